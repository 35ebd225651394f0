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
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import httpx


@dataclass(frozen=True)
class LiveAPI:
    url: str  # base URL, no trailing slash
    db: Path
    n_painted: int  # defects painted into the sample drive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def live_api() -> LiveAPI:
    folder = Path(tempfile.mkdtemp(prefix="roadscan-api-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "drive").mkdir()
    db, n_painted = _populate(folder)
    return LiveAPI(serve_process(db, folder / "server.log"), db, n_painted)


def serve_process(db: Path, log_path: Path) -> str:
    """`roadscan serve --db DB` on a free port until the test process ends; returns its base URL."""
    port = _free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "roadscan.cli", "serve", "--db", str(db), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    atexit.register(_stop, proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"roadscan serve exited ({proc.returncode}): {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/conformance", timeout=2).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"roadscan serve did not answer within 60 s: {log_path.read_text()}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


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
