"""Defects in the store: read them for merging and listing, write a survey's changes with it.

A survey's defect changes (new defects, updated ones, status changes, coverage, the segments it was
snapped to and the recomputed condition) are written by `write_defect_changes` inside the survey's
own transaction (`write_survey(..., then=...)`), so a failure leaves neither half.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, delete, select, update

from roadscan.api.store import schema
from roadscan.api.store.database import Store

# Statuses a re-survey may change: fixed and dismissed are a person's decision, except that a
# "fixed" defect seen again is reopened (and says so).
OPEN_STATUSES = ("open", "scheduled", "not re-observed")
ACTIVE_STATUSES = ("open", "scheduled", "not re-observed")  # what counts towards road condition

DEFECT_FIELDS = ["code", "name", "family", "lat", "lon", "segment_id", "road_name", "road_class", "chainage_m",
                 "side", "offset_m", "on_network", "width_m", "length_m", "area_m2", "n_obs", "n_surveys",
                 "max_confidence", "mean_confidence", "severity", "severity_reason", "certainty", "priority",
                 "priority_breakdown", "priority_reason", "first_seen", "last_seen"]


@dataclass
class DefectChanges:
    """What one survey does to the defects layer; every table in metric-free form (lat/lon, WKT)."""

    inserts: pd.DataFrame  # DEFECT_FIELDS + obs_rows (positions in the survey's observation list)
    updates: pd.DataFrame  # DEFECT_FIELDS + defect_id + obs_rows
    not_reobserved: list[int] = field(default_factory=list)
    coverage: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["segment_id", "start_m", "end_m"]))
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)  # segment_id, name, road_class, speed_kmh, length_m, network, geometry_wkt
    observation_snaps: pd.DataFrame = field(default_factory=pd.DataFrame)  # per observation row: segment_id, chainage_m, side, offset_m, on_network
    condition: Any = None  # callable(conn) -> condition rows; needs the stored coverage, so it runs last


def read_defects(store: Store, *, bbox: tuple[float, float, float, float] | None = None,
                 statuses: tuple[str, ...] | None = None, conn: Connection | None = None) -> pd.DataFrame:
    """Defects (optionally within a lon/lat bbox and with given statuses), highest priority first."""
    d = schema.defects
    query = select(d).order_by(d.c.priority.desc(), d.c.id)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        query = query.where(and_(d.c.lon >= minx, d.c.lon <= maxx, d.c.lat >= miny, d.c.lat <= maxy))
    if statuses:
        query = query.where(d.c.status.in_(statuses))
    if conn is None:
        with store.engine.connect() as own:
            rows = own.execute(query).mappings().all()
    else:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=list(d.c.keys()))


def defect_history(store: Store, defect_id: int) -> pd.DataFrame:
    h = schema.defect_history
    with store.engine.connect() as conn:
        rows = conn.execute(select(h).where(h.c.defect_id == defect_id).order_by(h.c.at, h.c.id)).mappings().all()
    return pd.DataFrame(rows, columns=list(h.c.keys()))


def read_condition(store: Store, level: str = "segment") -> pd.DataFrame:
    c = schema.segment_condition
    with store.engine.connect() as conn:
        rows = conn.execute(select(c).where(c.c.level == level).order_by(c.c.segment_id, c.c.bin_start_m)).mappings().all()
    return pd.DataFrame(rows, columns=list(c.c.keys()))


def read_coverage(conn: Connection) -> pd.DataFrame:
    c = schema.coverage
    rows = conn.execute(select(c.c.segment_id, c.c.start_m, c.c.end_m)).all()
    return pd.DataFrame(rows, columns=["segment_id", "start_m", "end_m"])


def read_segments(conn: Connection, ids) -> pd.DataFrame:
    s = schema.segments
    ids = list(ids)
    rows = []
    for i in range(0, len(ids), 500):  # SQLite caps bound parameters per statement
        rows += conn.execute(select(s).where(s.c.segment_id.in_(ids[i:i + 500]))).mappings().all()
    return pd.DataFrame(rows, columns=list(s.c.keys()))


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


def _history(conn: Connection, defect_id: int, status: str, note: str, survey_id: int, now: datetime) -> None:
    conn.execute(schema.defect_history.insert().values(defect_id=defect_id, status=status, note=note,
                                                        by=f"survey {survey_id}", at=now, survey_id=survey_id))


def write_defect_changes(conn: Connection, survey_id: int, obs_ids: list[int], changes: DefectChanges) -> dict[str, int]:
    """Apply a survey's defect changes in the caller's transaction; returns counts for the summary."""
    now = datetime.now(timezone.utc)
    d, o = schema.defects, schema.observations
    counts = {"new": 0, "updated": 0, "reopened": 0, "not re-observed": 0}

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

    for rec in changes.inserts.to_dict("records"):
        values = _row(rec, DEFECT_FIELDS)
        rows = list(rec["obs_rows"])
        values.update(status="open", first_survey_id=survey_id, last_survey_id=survey_id, updated_at=now,
                      evidence_observation_id=obs_ids[rec["evidence_row"]] if rec.get("evidence_row") is not None else None)
        defect_id = conn.execute(d.insert().values(**values)).inserted_primary_key[0]
        link(defect_id, rows)
        _history(conn, defect_id, "open", "found by survey", survey_id, now)
        counts["new"] += 1

    for rec in changes.updates.to_dict("records"):
        defect_id = int(rec["defect_id"])
        status = conn.execute(select(d.c.status).where(d.c.id == defect_id)).scalar_one()
        values = _row(rec, DEFECT_FIELDS)
        values.update(last_survey_id=survey_id, updated_at=now)
        if rec.get("evidence_row") is not None:
            values["evidence_observation_id"] = obs_ids[rec["evidence_row"]]
        if status == "fixed":
            values["status"] = "open"
            _history(conn, defect_id, "open", "reopened: seen again by a survey after it was marked fixed",
                     survey_id, now)
            counts["reopened"] += 1
        elif status == "not re-observed":
            values["status"] = "open"
            _history(conn, defect_id, "open", "seen again by a survey", survey_id, now)
        conn.execute(update(d).where(d.c.id == defect_id).values(**values))
        link(defect_id, list(rec["obs_rows"]))
        counts["updated"] += 1

    for defect_id in changes.not_reobserved:
        status = conn.execute(select(d.c.status).where(d.c.id == int(defect_id))).scalar_one()
        if status in ("open", "scheduled"):
            conn.execute(update(d).where(d.c.id == int(defect_id)).values(status="not re-observed", updated_at=now))
            _history(conn, int(defect_id), "not re-observed",
                     "in view of a later survey but not detected: a candidate for repaired", survey_id, now)
            counts["not re-observed"] += 1

    if len(changes.coverage):
        conn.execute(schema.coverage.insert(), [{**_row(r, ["segment_id", "start_m", "end_m"]), "survey_id": survey_id}
                                                for r in changes.coverage.to_dict("records")])
    if changes.condition is not None:
        rows = changes.condition(conn)
        if rows is not None and len(rows):
            ids = list(rows["segment_id"].unique())
            for i in range(0, len(ids), 500):
                conn.execute(delete(schema.segment_condition).where(
                    schema.segment_condition.c.segment_id.in_(ids[i:i + 500])))
            cols = list(schema.segment_condition.c.keys())
            conn.execute(schema.segment_condition.insert(),
                         [{**_row(r, cols), "updated_at": now} for r in rows.drop(columns="id", errors="ignore")
                          .to_dict("records")])
    return counts
