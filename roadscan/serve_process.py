"""`roadscan serve` in a child process, started and waited for: the API exactly as a GIS server runs
it, for benchmarks, tests and scripts that talk HTTP to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path | str, log_path: Path, *options: str, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Serve the store `db` on a free local port (with more `roadscan serve` options); returns the
    process and its base URL once the API answers, with any status (a key-only API answers 401).
    The server's output goes to `log_path`, whose text a RuntimeError quotes when it fails."""
    port = free_port()
    with open(log_path, "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen([sys.executable, "-m", "roadscan.cli", "serve", "--db", str(db), "--port", str(port),
                                 *options],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"roadscan serve exited ({proc.returncode}): {Path(log_path).read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/conformance", timeout=2):
                return proc, url
        except urllib.error.HTTPError:
            return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"roadscan serve did not answer within {timeout:g} s: {Path(log_path).read_text()}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
