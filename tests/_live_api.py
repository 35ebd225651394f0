"""A live roadscan API for the API tests: a store with one sample survey, served by `roadscan serve`
in a subprocess on a free local port, exactly as a GIS server would run it.

`serve_in_thread` runs any app (e.g. over a store a test made) with uvicorn in a thread instead.

The live API is built once per test process (about 15 s: the sample drive and its survey) and shared by
test_api.py and test_api_gdal.py; the server stops and the folder goes when the process ends.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from roadscan.serve_process import start_server, stop_server


@dataclass(frozen=True)
class LiveAPI:
    url: str  # base URL, no trailing slash
    db: Path  # the SQLite store of the sample survey (on PostgreSQL: the store copied into it, ids and all)
    n_painted: int  # defects painted into the sample drive
    store: str = ""  # what the server serves: the SQLite file, or a PostgreSQL URL
    backend: str = "sqlite"


def _populate(folder: Path) -> tuple[Path, int]:
    from roadscan.api.store.database import open_store
    from roadscan.geo.roads import load_network
    from roadscan.pipeline import ProcessOptions, process_survey
    from roadscan.sample import make_sample_drive
    from roadscan.sample.oracle import TruthDetector

    drive = make_sample_drive(folder / "drive", length_m=250.0)
    db = folder / "api.db"
    with open_store(db) as store:
        process_survey(drive.video, drive.gpx, store, ProcessOptions(camera="sample-drive"),
                       detector=TruthDetector(drive.boxes()), network=load_network(drive.roads))
    return db, len(drive.defects())


@lru_cache(maxsize=None)
def _sample_store() -> tuple[Path, Path, int]:
    folder = Path(tempfile.mkdtemp(prefix="roadscan-api-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "drive").mkdir()
    db, n_painted = _populate(folder)
    return folder, db, n_painted


@lru_cache(maxsize=None)
def live_api(backend: str = "sqlite") -> LiveAPI:
    """The live API over the sample store, on SQLite or (a copy of it, `roadscan db copy`) on PostgreSQL."""
    folder, db, n_painted = _sample_store()
    if backend == "sqlite":
        return LiveAPI(serve_process(db, folder / "server.log"), db, n_painted, str(db))
    url, images = postgres_copy(db, folder / "pg-images")
    served = serve_process(url, folder / "server-pg.log", env={**os.environ, "ROADSCAN_IMAGES": str(images)})
    return LiveAPI(served, db, n_painted, url, backend)


def postgres_copy(db: Path, images: Path) -> tuple[str, Path]:
    """A new database of the session's PostgreSQL cluster holding a copy of the SQLite store `db`, with its
    images in `images`; returns its URL and that folder (serve it with ROADSCAN_IMAGES set to it)."""
    from _postgres import postgres_cluster

    from roadscan.api.store.database import open_store
    from roadscan.api.store.transfer import copy_store

    url = postgres_cluster().new_database("api")
    with open_store(db, create=False) as src, open_store(url) as dst:
        dst.images_dir = images
        copy_store(src, dst)
    return url, images


def serve_process(db: Path | str, log_path: Path, env: dict[str, str] | None = None) -> str:
    """`roadscan serve --db DB` on a free port until the test process ends; returns its base URL."""
    proc, url = start_server(db, log_path, env=env)
    atexit.register(stop_server, proc)
    return url


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free local port for the duration of a `with` block."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
