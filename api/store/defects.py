"""Defects in the store as a survey changes them: its changes applied, the reads it makes, condition.

A survey's defect changes (new defects, updated ones, status changes, coverage, the segments it was
snapped to) are computed by geo/ (`core.changes.DefectChanges`) and applied here by
`apply_defect_changes`, inside the survey's own transaction (`surveys.survey_transaction`), so a
failure leaves neither half. The reads a survey makes are bounded by the segments it touched.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import Connection, delete, select, update

from roadscan.api.store import schema
from roadscan.api.store.database import Store
from roadscan.api.store.defect_status import add_history
from roadscan.core.changes import DefectChanges
from roadscan.core.statuses import ACTIVE_STATUSES
from roadscan.core.tables import COVERAGE_COLUMNS, STORED_DEFECT_COLUMNS

CHUNK = 500  # ids per IN (...): SQLite caps bound parameters per statement


def read_condition(store: Store, level: str = "segment") -> pd.DataFrame:
    c = schema.segment_condition
    with store.engine.connect() as conn:
        rows = conn.execute(select(c).where(c.c.level == level).order_by(c.c.segment_id, c.c.bin_start_m)).mappings().all()
    return pd.DataFrame(rows, columns=list(c.c.keys()))


def _in_chunks(conn: Connection, query, column, ids) -> list:
    ids = list(ids)
    rows = []
    for i in range(0, len(ids), CHUNK):
        rows += conn.execute(query.where(column.in_(ids[i:i + CHUNK]))).mappings().all()
    return rows


def coverage_on(conn: Connection, segment_ids) -> pd.DataFrame:
    """What every stored survey saw of these segments (chainage intervals)."""
    c = schema.coverage
    rows = _in_chunks(conn, select(c.c.segment_id, c.c.start_m, c.c.end_m), c.c.segment_id, segment_ids)
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def active_defects_on(conn: Connection, segment_ids) -> pd.DataFrame:
    """Defects still on the road (ACTIVE_STATUSES) and on the network, on these segments."""
    d = schema.defects
    query = select(d).where(d.c.status.in_([str(s) for s in ACTIVE_STATUSES]), d.c.on_network == 1)
    return pd.DataFrame(_in_chunks(conn, query, d.c.segment_id, segment_ids), columns=list(d.c.keys()))


def read_segments(conn: Connection, ids) -> pd.DataFrame:
    s = schema.segments
    return pd.DataFrame(_in_chunks(conn, select(s), s.c.segment_id, ids), columns=list(s.c.keys()))


def _clean(value):
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dict):
        return json.dumps(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _row(record: dict, fields: list[str]) -> dict:
    return {k: _clean(record.get(k)) for k in fields}


def apply_defect_changes(conn: Connection, survey_id: int, obs_ids: list[int], changes: DefectChanges) -> None:
    """Write a survey's defect changes in the caller's transaction, exactly as geo/ computed them."""
    now = datetime.now(timezone.utc)
    d, o = schema.defects, schema.observations

    if len(changes.segments):
        known = set(read_segments(conn, changes.segments["segment_id"])["segment_id"])
        fresh = changes.segments[~changes.segments["segment_id"].isin(known)]
        if len(fresh):
            conn.execute(schema.segments.insert(), [_row(r, list(schema.segments.c.keys()))
                                                    for r in fresh.to_dict("records")])
    if len(changes.observation_snaps):
        snaps = changes.observation_snaps
        for pos, rec in zip(snaps.index, snaps.to_dict("records")):
            conn.execute(update(o).where(o.c.id == obs_ids[pos]).values(
                **{k: _clean(rec.get(k)) for k in ("segment_id", "chainage_m", "side", "offset_m", "on_network")}))

    def link(defect_id: int, rows) -> None:
        ids = [obs_ids[i] for i in rows]
        if ids:
            conn.execute(update(o).where(o.c.id.in_(ids)).values(defect_id=defect_id))

    def evidence(rec: dict) -> dict:
        row = rec.get("evidence_row")
        return {} if row is None or (isinstance(row, float) and math.isnan(row)) else \
            {"evidence_observation_id": obs_ids[int(row)]}

    for rec in changes.inserts.to_dict("records"):
        values = {**_row(rec, STORED_DEFECT_COLUMNS), "status": rec["status"], "first_survey_id": survey_id,
                  "last_survey_id": survey_id, "updated_at": now, "evidence_observation_id": None, **evidence(rec)}
        defect_id = conn.execute(d.insert().values(**values)).inserted_primary_key[0]
        link(defect_id, list(rec["obs_rows"]))
        add_history(conn, defect_id, rec["status"], rec["note"], by=f"survey {survey_id}", at=now, survey_id=survey_id)

    for rec in changes.updates.to_dict("records"):
        defect_id = int(rec["defect_id"])
        values = {**_row(rec, STORED_DEFECT_COLUMNS), "last_survey_id": survey_id, "updated_at": now, **evidence(rec)}
        conn.execute(update(d).where(d.c.id == defect_id).values(**values))
        link(defect_id, list(rec["obs_rows"]))

    for rec in changes.status_changes.to_dict("records"):
        defect_id = int(rec["defect_id"])
        conn.execute(update(d).where(d.c.id == defect_id).values(status=rec["status"], updated_at=now))
        add_history(conn, defect_id, rec["status"], rec["note"], by=f"survey {survey_id}", at=now, survey_id=survey_id)

    if len(changes.coverage):
        conn.execute(schema.coverage.insert(), [{**_row(r, COVERAGE_COLUMNS), "survey_id": survey_id}
                                                for r in changes.coverage.to_dict("records")])


def replace_condition(conn: Connection, rows: pd.DataFrame) -> None:
    """Store the condition rows of some segments in place of what those segments had."""
    if rows is None or not len(rows):
        return
    now = datetime.now(timezone.utc)
    ids = list(rows["segment_id"].unique())
    for i in range(0, len(ids), CHUNK):
        conn.execute(delete(schema.segment_condition).where(schema.segment_condition.c.segment_id.in_(ids[i:i + CHUNK])))
    cols = [c for c in schema.segment_condition.c.keys() if c != "id"]  # PostgreSQL numbers it (NULL is refused)
    conn.execute(schema.segment_condition.insert(),
                 [{**_row(r, cols), "updated_at": now} for r in rows.drop(columns="id", errors="ignore")
                  .to_dict("records")])
