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


def start_server(db: Path | str | None, log_path: Path, *options: str, timeout: float = 60.0,
                 command: list[str] | None = None, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Serve the store `db` on a free local port (with more `roadscan serve` options); returns the
    process and its base URL once the API answers, with any status (a key-only API answers 401).
    The server's output goes to `log_path`, whose text a RuntimeError quotes when it fails.

    db None: no --db, the default store of `cwd`; `command`: the roadscan to run (default: this
    Python's), e.g. the `roadscan` script of another virtual environment.
    """
    port = free_port()
    command = command or [sys.executable, "-m", "roadscan.cli"]
    store = ["--db", str(db)] if db is not None else []
    with open(log_path, "wb") as log:  # the child keeps its own handle
        proc = subprocess.Popen([*command, "serve", *store, "--port", str(port), *options], cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT, env={**(env or os.environ), "NO_COLOR": "1"})
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
