"""The detector commands end to end on a tiny dataset: dataset build/stats, train, evaluate, export."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny_dataset import make_sources
from typer.testing import CliRunner

from roadscan.cli import app
from roadscan.core.errors import ConfigError, DatasetError

needs_detector = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("ultralytics", "onnx", "onnxruntime")),
    reason="the detector stack (pip install 'roadscan[train]') is not installed")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    sources = make_sources(root, frames=8, size=64)
    result = run("dataset", "build", "--sources", sources, "--out", root / "build")
    assert result.exit_code == 0, result.output
    return sources, root / "build"


def test_dataset_build_and_stats(built):
    sources, out = built
    assert (out / "data.yaml").is_file() and (out / "data_pot_val.yaml").is_file()
    result = run("dataset", "stats", out)
    assert result.exit_code == 0 and "pot" in result.output and "seq" in result.output and "D40" in result.output


def test_dataset_stats_of_a_folder_that_is_no_build(tmp_path):
    result = run("dataset", "stats", tmp_path)
    assert isinstance(result.exception, DatasetError) and "no manifest.csv" in str(result.exception)


@needs_detector
def test_train_prints_a_line_per_epoch(built, tmp_path):
    _, out = built
    result = run("train", out / "data.yaml", "--name", "t", "--model", "yolov8n.yaml", "--epochs", "1",
                 "--imgsz", "64", "--batch", "2", "--project", tmp_path, "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "epoch 1/1" in result.stderr and "mAP50" in result.stderr
    assert (tmp_path / "t" / "weights" / "best.pt").is_file() and "Run finished" in result.stdout


def test_train_refuses_model_and_from_together(built, tmp_path):
    _, out = built
    result = run("train", out / "data.yaml", "--name", "t", "--model", "yolo11s.yaml", "--from", tmp_path / "w.pt")
    assert isinstance(result.exception, ConfigError)


@needs_detector
def test_evaluate_and_export(built, tiny_yolo_pt, tmp_path):
    sources, out = built
    report = tmp_path / "report"
    result = run("evaluate", "--model", tiny_yolo_pt, "--data", out / "data_seq_val.yaml", "--imgsz", "64",
                 "--out", report, "--examples", "2")
    assert result.exit_code == 0, result.output
    assert "AP50" in result.stdout and "D00 longitudinal crack" in result.stdout
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["classes_in_mean"] == ["D00"] and (report / "pr_D00.png").is_file()

    onnx = tmp_path / "tiny.onnx"
    result = run("export-model", "--model", tiny_yolo_pt, "--imgsz", "64", "--out", onnx)
    assert result.exit_code == 0, result.output
    assert onnx.is_file() and "dynamic" in result.stdout

    # the exported model on the same set by source name: the ONNX backend, the same numbers
    result = run("evaluate", "--model", onnx, "--data", "seq", "--sources", sources, "--imgsz", "64",
                 "--out", tmp_path / "onnx_report", "--examples", "0")
    assert result.exit_code == 0, result.output
    onnx_metrics = json.loads((tmp_path / "onnx_report" / "metrics.json").read_text())
    assert onnx_metrics["detector"] == "onnx:tiny.onnx"
    assert onnx_metrics["mAP50"] == pytest.approx(metrics["mAP50"], abs=0.02)


def test_user_errors_print_one_message_without_traceback(tmp_path):
    code = "import sys; from roadscan.cli import main; sys.argv = ['roadscan'] + sys.argv[1:]; main()"
    done = subprocess.run([sys.executable, "-c", code, "evaluate", "--model", str(tmp_path / "best.pt"),
                           "--data", str(tmp_path)], capture_output=True, text=True, cwd=Path(__file__).parent)
    text = " ".join(done.stderr.split())  # rich wraps at the terminal width
    assert done.returncode == 2 and "Traceback" not in text
    assert text.startswith(f"error: {tmp_path}") and "no labelled images" in text
