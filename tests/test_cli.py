"""The `roadscan` command's manners: one default store that reading commands never create, one name
per meaning across commands, a --help without noise, and output that keeps every character of paths
and names (no rich markup) and every column when piped."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from typer.testing import CliRunner

from roadscan.api.store.database import open_store
from roadscan.cli import app
from roadscan.core.errors import ConfigError, StoreError

runner = CliRunner()
READING = [["surveys"], ["defects"], ["export", "--format", "csv"], ["anonymise"], ["keys", "list"],
           ["keys", "create", "--name", "crew"], ["serve"]]


def run(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


@pytest.fixture
def empty_folder(tmp_path, monkeypatch):
    """The current folder, empty, with no ROADSCAN_DB: where a newcomer runs the command first."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROADSCAN_DB", raising=False)
    return tmp_path


@pytest.mark.parametrize("args", READING, ids=lambda a: " ".join(a[:2]))
def test_reading_commands_never_create_a_store(empty_folder, args):
    """`roadscan defects` once created an empty roadscan.db, which `serve` then showed as an empty map."""
    result = run(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, StoreError) and "no store here" in str(result.exception)
    assert "roadscan demo" in result.exception.hint
    assert list(empty_folder.iterdir()) == []


def test_a_failed_first_run_leaves_no_store_behind(empty_folder):
    """Every failed run once left an empty 128 KB roadscan.db."""
    footage = empty_folder / "drive.mp4"
    footage.write_bytes(b"\0" * 1000)
    result = run("process", footage, "--gps", footage, "--camera", "no-such-camera")
    assert isinstance(result.exception, ConfigError)
    result = run("process", footage, "--start-time", "2026-05-01T10:00:00")
    assert result.exit_code != 0 and "drive.mp4" in str(result.exception)
    assert sorted(p.name for p in empty_folder.iterdir()) == ["drive.mp4"]


def test_the_default_store_is_one_file_for_every_command(empty_folder, monkeypatch):
    """What `roadscan demo` writes (no --db) is what the reading commands open (no --db)."""
    open_store().close()  # what demo and process create without --db
    assert [p.name for p in empty_folder.iterdir()] == ["roadscan.db"]
    result = run("surveys")
    assert result.exit_code == 0 and f"No surveys in {empty_folder / 'roadscan.db'}" in result.stdout
    monkeypatch.setenv("ROADSCAN_DB", f"sqlite:///{empty_folder}/elsewhere.db")  # a URL keeps its slashes
    open_store().close()
    result = run("defects")
    assert result.exit_code == 0 and str(empty_folder / "elsewhere.db") in result.stdout
    result = run("surveys", "--db", f"sqlite:///{empty_folder}/roadscan.db")
    assert result.exit_code == 0 and str(empty_folder / "roadscan.db") in result.stdout


def test_help_lists_values_not_bool_after_flags():
    for args in (["--help"], ["process", "--help"], ["demo", "--help"], ["keys", "--help"], ["train", "--help"]):
        result = run(*args)
        assert result.exit_code == 0 and "<bool>" not in result.stdout, args
    process = " ".join(run("process", "--help").stdout.split())
    assert "MKV" in process and "--roads-layer" in process and "--keep-originals" in process


def test_one_name_per_meaning_across_commands():
    """--confidence (not --conf), --limit (not --top), --model is weights everywhere (train: --arch)."""
    helps = {cmd: run(cmd, "--help").stdout for cmd in ("process", "evaluate", "demo", "defects", "train",
                                                        "export-model")}
    assert "--confidence" in helps["process"] and "--confidence" in helps["evaluate"]
    assert "--conf " not in helps["evaluate"]
    assert "--limit" in helps["demo"] and "--limit" in helps["defects"] and "--top" not in helps["demo"]
    assert "--arch" in helps["train"] and "--from" not in helps["train"]
    for cmd in ("process", "evaluate", "train", "export-model", "demo"):
        row = re.search(r"--model +<\w+> +(.*)", helps[cmd])
        assert row and "weights" in row[1].lower(), (cmd, row)
    # the old spellings still parse (hidden)
    assert run("demo", "--top", "3", "--help").exit_code == 0
    assert run("evaluate", "--conf", "0.1", "--help").exit_code == 0
    assert run("train", "x.yaml", "--from", "w.pt", "--help").exit_code == 0
    assert run("demo", "--replace", "--help").exit_code == 0


def test_train_reads_model_as_weights_and_the_old_spellings():
    from roadscan.detector_cli import _training_start

    assert _training_start(None, None, None) == "yolo11n.yaml"
    assert _training_start("best.pt", None, None) == "best.pt"
    assert _training_start(None, "yolo11s.yaml", None) == "yolo11s.yaml"
    assert _training_start("yolo11s.yaml", None, None) == "yolo11s.yaml"  # --model X.yaml: the old meaning
    assert _training_start(None, None, "w.pt") == "w.pt"  # --from: the old name of --model
    for both in (("best.pt", "yolo11s.yaml", None), ("yolo11s.yaml", None, "w.pt"), ("a.pt", None, "b.pt")):
        with pytest.raises(ConfigError):
            _training_start(*both)
    result = run("train", "data.yaml", "--name", "t", "--model", "yolo11s.yaml", "--from", "w.pt")
    assert isinstance(result.exception, ConfigError)


def test_names_in_square_brackets_are_printed_whole(tmp_path, capsys):
    """rich markup once ate `[osm]` (printing 'road classes from mapping ') and `[...]` parts of paths."""
    from roadscan.cli import _load_roads

    roads = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"osm_id": [1], "highway": ["residential"], "name": ["Vej [1]"]},
                     geometry=[shapely.LineString([(590000, 6140000), (590100, 6140000)])],
                     crs="EPSG:25832").to_file(roads)
    _load_roads(roads, None, None)
    assert "road classes from mapping [osm]" in capsys.readouterr().err

    folder = tmp_path / "survey [2026]"
    folder.mkdir()
    open_store(folder / "s.db").close()
    result = run("surveys", "--db", folder / "s.db")
    assert result.exit_code == 0 and str(folder / "s.db") in result.stdout
    missing = subprocess.run([sys.executable, "-m", "roadscan.cli", "defects", "--db", str(folder / "none [x].db")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and str(folder / "none [x].db") in missing.stderr


def test_serve_names_the_map_page(tmp_path):
    from roadscan.serve_process import start_server, stop_server

    db = tmp_path / "s.db"
    open_store(db).close()
    log = tmp_path / "serve.log"
    proc, url = start_server(db, log)
    try:
        text = log.read_text()
    finally:
        stop_server(proc)
    assert f"map page:  {url}/map" in text and f"serving {db}" in text
