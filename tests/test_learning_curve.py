"""Training runs laid end to end (detector/learning_curve.py, `roadscan learning-curve`)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from roadscan.cli import app
from roadscan.detector.learning_curve import MAP50, read_runs
from roadscan.core.errors import ConfigError


def _run(folder, times, maps):
    folder.mkdir(parents=True)
    pd.DataFrame({"epoch": range(1, len(times) + 1), "time": times, MAP50: maps,
                  "metrics/mAP50-95(B)": [m / 2 for m in maps]}).to_csv(folder / "results.csv", index=False)
    return folder


def test_runs_continue_in_epochs_and_hours_across_a_resume(tmp_path):
    first = _run(tmp_path / "a", [3600, 1800, 5400], [0.1, 0.2, 0.3])  # resumed before epoch 2: time restarts
    second = _run(tmp_path / "b", [1800, 3600], [0.35, 0.4])
    curve = read_runs([first, second / "results.csv"])
    assert list(curve["run"]) == ["a", "a", "a", "b", "b"]
    assert list(curve["total_epoch"]) == [1, 2, 3, 4, 5]
    assert list(curve["hours"]) == pytest.approx([1.0, 1.5, 2.5, 3.0, 3.5])


def test_command_writes_csv_and_plot_and_refuses_other_tables(tmp_path):
    run = _run(tmp_path / "r", [60, 120], [0.1, 0.2])
    result = CliRunner().invoke(app, ["learning-curve", str(run), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "learning_curve.png").stat().st_size > 10_000
    assert len(pd.read_csv(tmp_path / "out" / "training_curve.csv")) == 2
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not an ultralytics results.csv"):
        read_runs([tmp_path / "bad.csv"])
