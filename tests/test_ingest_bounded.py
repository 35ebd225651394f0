"""A survey's write reads only what lies near it: its cost does not grow with the store (issue 13).

Measured without a clock: the work SQLite does (virtual-machine steps, counted by a progress handler)
to store the same survey into an empty store and into one holding many defects, coverage and
condition rows elsewhere; and the query plan of every statement the write runs, which must search
an index rather than scan a table that grows with the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _bench import load_bench
from sqlalchemy import event

from roadscan.api.store.database import open_store, schema_version
from roadscan.api.store.schema import INGEST_INDEXES, SCHEMA_VERSION
from roadscan.geo.defect_changes import MappingOptions
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector

# Tables that grow with every survey: a full scan of one of them makes a write cost what the store holds.
GROWING = ("surveys", "frames", "observations", "segments", "defects", "defect_history", "coverage",
           "segment_condition", "defect_photos")
TICK = 100  # VM instructions per progress-handler call


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return make_sample_drive(tmp_path_factory.mktemp("drive"), length_m=200.0)


@pytest.fixture(scope="module")
def network(drive):
    return load_network(drive.roads)


@pytest.fixture(scope="module")
def far_store_file(tmp_path_factory) -> Path:
    """20,000 defects in Odense with their streets, 100,000 coverage intervals and condition rows; the
    drive is in Helsinki. Copied for each test."""
    path = tmp_path_factory.mktemp("far") / "far.db"
    load_bench("ingest").fill_store(path, 20_000, passes=25)
    return path


@contextmanager
def sqlite_work(store):
    """Count SQLite's VM steps and keep every statement the store runs inside the block."""
    steps, statements = [0], []

    def tick():
        steps[0] += 1
        return 0

    def before(conn, cursor, statement, parameters, context, executemany):
        if conn.dialect.name == "sqlite":
            conn.connection.dbapi_connection.set_progress_handler(tick, TICK)
        statements.append((statement, parameters[0] if executemany and parameters else parameters))

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield steps, statements
    finally:
        event.remove(store.engine, "before_cursor_execute", before)


def _ingest(drive, network, db: Path | str, **kw):
    opts = ProcessOptions(camera="sample-drive", mapping=MappingOptions(), store_images="none", **kw)
    with open_store(db) as store, sqlite_work(store) as (steps, statements):
        summary = process_survey(drive.video, drive.gpx, store, opts, detector=TruthDetector(drive.boxes()),
                                 network=network)
    return summary, steps[0] * TICK, statements


def _scans(db: Path, statements) -> list[str]:
    """The plan steps that read a growing table whole, with the statement that does."""
    con = sqlite3.connect(db)
    found = []
    for sql, params in statements:
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue
        for _id, _parent, _unused, detail in con.execute("EXPLAIN QUERY PLAN " + sql, params or ()):
            words = detail.split()
            if words[0] == "SCAN" and len(words) > 1 and words[1] in GROWING:
                found.append(f"{detail}: {' '.join(sql.split())[:160]}")
    con.close()
    return found


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_a_survey_into_a_full_store_costs_what_it_costs_into_an_empty_one(drive, network, far_store_file, tmp_path):
    empty, in_empty, _ = _ingest(drive, network, tmp_path / "empty.db")
    full, in_full, statements = _ingest(drive, network, _copy(far_store_file, tmp_path / "full.db"))
    assert empty.defects.new == full.defects.new > 0 and full.defects.updated == 0
    assert _scans(tmp_path / "full.db", statements) == []
    # the same work, whatever lies elsewhere: without the coverage index it was 60 times as much here
    assert in_full <= 1.1 * in_empty + 2_000, (in_empty, in_full)


def test_a_second_survey_and_a_replace_stay_bounded_too(drive, network, far_store_file, tmp_path):
    """Matching against the survey's own earlier defects and replacing it (foreign keys SET NULL on
    defects and history) read by index as well."""
    full = _copy(far_store_file, tmp_path / "full.db")
    empty = tmp_path / "empty.db"
    for db in (full, empty):
        _ingest(drive, network, db)
    _, in_empty, _ = _ingest(drive, network, empty, replace=True)
    again, in_full, statements = _ingest(drive, network, full, replace=True)
    assert again.defects.updated > 0 and again.defects.new == 0
    assert _scans(full, statements) == []
    assert in_full <= 1.1 * in_empty + 2_000, (in_empty, in_full)


# Tables the far store fills: on PostgreSQL the planner rightly scans a table of a few rows, so only these count.
FILLED = ("defects", "coverage", "segment_condition", "segments")


def _walk(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


@pytest.mark.postgres
def test_on_postgresql_every_read_of_a_survey_s_write_searches_an_index(postgres, drive, network, tmp_path,
                                                                         monkeypatch):
    """A far store (smaller: rows cost more to copy there) copied into PostGIS (`roadscan db copy`) and
    analysed as autovacuum would: no statement of the survey's write reads a filled table whole."""
    from roadscan.api.store.transfer import copy_store

    monkeypatch.setenv("ROADSCAN_IMAGES", str(tmp_path / "images"))
    far = tmp_path / "far.db"
    load_bench("ingest").fill_store(far, 5_000, passes=5)
    url = postgres.new_database()
    with open_store(far) as src, open_store(url) as dst:
        copy_store(src, dst, images=False)
        with dst.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    first, _, _ = _ingest(drive, network, url)
    again, _, statements = _ingest(drive, network, url, replace=True)
    assert first.defects.new > 0 and again.defects.updated > 0
    scans = []
    with open_store(url) as store, store.engine.connect() as conn:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params or ()).scalar_one()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            scans += [f"{n['Node Type']} on {n['Relation Name']}: {' '.join(sql.split())[:160]}"
                      for n in _walk(plan[0]["Plan"]) if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in FILLED]
    assert scans == []


def test_a_schema_4_store_gains_the_ingest_indexes(tmp_path):
    path = tmp_path / "v4.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "fixtures" / "schema_v4.sql").read_text())
    with open_store(path) as store:
        assert schema_version(store) == SCHEMA_VERSION >= 5
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'index'")}
    assert {index.name for index in INGEST_INDEXES} <= names
