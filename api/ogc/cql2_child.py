"""What the CQL2 parser's child process runs (api/ogc/cql2_guard.py): the cql2 parser and nothing of
roadscan, so the child starts small and fast. Errors come back as values: the parser's exceptions
are Rust types that need not survive pickling."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import cql2


def watch(server_pid: int, every_s: float = 1.0) -> None:
    """Run first in each child: it ends itself once the server that started it is gone (a server killed
    without shutting its pool down would otherwise leave the child waiting for work for ever)."""

    def loop() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # a process of another user took the number: ours is gone
                os._exit(0)

    threading.Thread(target=loop, daemon=True, name="watch-server").start()


def parse(text: str, lang_is_json: bool) -> tuple[bool, Any]:
    """(True, CQL2 JSON) or (False, why the parser refused it)."""
    try:
        expr = cql2.parse_json(text) if lang_is_json else cql2.parse_text(text)
        return True, expr.to_json()
    except (cql2.ParseError, ValueError) as exc:
        return False, " ".join(str(exc).split())
    except Exception as exc:  # noqa: BLE001 -- the parser's other refusals (e.g. JSON of the wrong shape)
        return False, f"{type(exc).__name__}: {exc}"
