"""Writers at once (issue 15: 16 concurrent status writers gave a 500 "database is locked"): a status
update waits while another program (a survey being stored) holds SQLite's write lock, and many
writers and readers at once all get answers, with every acknowledged write in the history."""

from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import pytest

from roadscan.api.app import create_app
from roadscan.api.auth import create_key
from roadscan.api.store.database import open_store
from roadscan.api.store.defect_status import status_history

from _api_copy import copy_live_store
from _live_api import serve_in_thread


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return copy_live_store(tmp_path_factory.mktemp("concurrency"))


@pytest.fixture(scope="module")
def key(db):
    with open_store(db) as store:
        return create_key(store, "crew-load", "crew")[1]


@pytest.fixture(scope="module")
def url(db):
    with serve_in_thread(create_app(db)) as base:
        yield base


def notes(db, defect_id: int) -> set[str]:
    with open_store(db) as store:
        return {h["note"] for h in status_history(store, defect_id).history}


def test_status_update_waits_while_another_program_holds_the_write_lock(db, url, key):
    """SQLite's default wait is 5 s; a survey's transaction (or a backup) can hold the lock longer."""
    held = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    held.execute("BEGIN IMMEDIATE")  # the write lock, as `roadscan process` holds it while storing a survey
    released = threading.Timer(7.0, lambda: held.execute("COMMIT"))
    released.start()
    try:
        r = httpx.post(f"{url}/defects/2/status", json={"status": "scheduled", "note": "after the survey"},
                       headers={"X-API-Key": key}, timeout=120)
    finally:
        released.join()
        held.close()
    assert r.status_code == 200, r.text
    assert "after the survey" in notes(db, 2)


def test_many_writers_and_readers_at_once_all_get_answers_and_every_write_is_kept(db, url, key):
    writers, readers, writes_each = 16, 8, 6
    answers: list[tuple[str, int | str]] = []
    kept: list[tuple[int, str]] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"X-API-Key": key}) as client:
            for n in range(writes_each):
                defect, note = 1 + (i + n) % 4, f"writer {i} write {n}"
                try:
                    r = client.post(f"/defects/{defect}/status", json={"status": "fixed", "note": note})
                    outcome = r.status_code
                except httpx.TransportError as exc:
                    outcome = type(exc).__name__
                with lock:
                    answers.append(("write", outcome))
                    if outcome == 200:
                        kept.append((defect, note))

    def read(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for n in range(writes_each):
                path = ("/collections/defects/items", "/worklists", f"/defects/{1 + n % 4}/history")[(i + n) % 3]
                try:
                    outcome = client.get(path).status_code
                except httpx.TransportError as exc:
                    outcome = type(exc).__name__
                with lock:
                    answers.append(("read", outcome))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    threads += [threading.Thread(target=read, args=(i,)) for i in range(readers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    failed = [a for a in answers if a[1] != 200]
    assert not failed, failed
    assert len(kept) == writers * writes_each
    by_defect: dict[int, set[str]] = {}
    for defect, note in kept:
        by_defect.setdefault(defect, set()).add(note)
    for defect, written in by_defect.items():
        assert written <= notes(db, defect)
