"""Writes that wait their turn: SQLite lets one writer at a time, and a request must not fail because
another (16 crews at once, or a survey being stored) holds the lock.

The connection's busy timeout (database.py) makes SQLite itself wait for the lock; a lock error
that still comes (SQLite answers some conflicts at once, without waiting) is retried here with a
growing pause, and when the lock stays taken past RETRY_S the caller gets `StoreBusy`, which the
API answers 503 with Retry-After, never "database is locked".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from roadscan.api.store import postgis

T = TypeVar("T")

RETRY_S = 90.0  # beyond the busy timeout: one more wait for a long survey transaction
RETRY_AFTER_S = 30  # what a 503 asks the client to wait


class StoreBusy(Exception):
    """The database stayed locked by another writer longer than a request waits."""


def _locked(exc: OperationalError) -> bool:
    """SQLite's lock errors; PostgreSQL's deadlock and serialization failures (the transaction may run again)."""
    if postgis.retryable(exc):
        return True
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "locked" in text or "busy" in text


def retry_when_locked(write: Callable[[], T], seconds: float = RETRY_S) -> T:
    """`write()` (one transaction), again after a pause while the database is locked; StoreBusy when it
    stays locked for `seconds`."""
    deadline, pause = time.monotonic() + seconds, 0.05
    while True:
        try:
            return write()
        except OperationalError as exc:
            if not _locked(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise StoreBusy("the database is busy: another program (a survey being stored?) holds its "
                                "write lock") from None
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
