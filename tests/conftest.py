"""Shared fixtures: the real data beside the project, and temporary stores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder `../shared/data`; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_yolo_pt(tmp_path_factory) -> Path:
    """An untrained YOLOv8n detector with our five classes, saved as .pt.

    Built from ultralytics' bundled yolov8n.yaml (nothing downloaded); seeded, so its (meaningless)
    boxes are the same every run. Session-scoped: building it costs about a second.
    """
    if importlib.util.find_spec("ultralytics") is None:  # importorskip would import it before ensure_offline
        pytest.skip("the detector stack (pip install 'roadscan[train]') is not installed")
    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    import torch
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    from roadscan.core.classes import CLASS_CODES

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    model.model = DetectionModel("yolov8n.yaml", nc=len(CLASS_CODES), verbose=False)
    model.model.names = dict(enumerate(CLASS_CODES))
    path = tmp_path_factory.mktemp("tiny_yolo") / "tiny.pt"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 + PostGIS cluster for the session (tests/_postgres.py); skips, saying why,
    when the Debian packages are absent."""
    from _postgres import postgres_cluster

    cluster = postgres_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs, started once per session (it takes seconds) and used by every Ray test;
    `roadscan process --workers` in the same process joins it rather than start its own."""
    ray = pytest.importorskip("ray", reason="Ray (pip install 'roadscan[scale]', in the test extra) is not installed")
    import logging

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def backend(request):
    """The store under the API: sqlite, or both for a test marked `@both_backends` (tests/_postgres.py)."""
    name = getattr(request, "param", "sqlite")
    if name == "postgresql":
        request.getfixturevalue("postgres")
    return name


@pytest.fixture(scope="module")
def api(backend):
    """The live API (`roadscan serve` on 127.0.0.1) over a store built from the sample drive."""
    from _live_api import live_api

    return live_api(backend)


@pytest.fixture(scope="module")
def client(api):
    """An HTTP client of the live API."""
    import httpx

    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c
