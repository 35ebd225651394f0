"""Counts for the map's summary panel: defects by class and status, road length by condition class."""

from __future__ import annotations

from sqlalchemy import func, select

from roadscan.api.store import schema
from roadscan.api.store.database import Store
from roadscan.api.store.features import DEFECTS, FeatureQuery


def defects_by_class_and_status(store: Store, query: FeatureQuery) -> list[tuple[str, str, str, int]]:
    """(code, name, status, count) of the defects the query selects."""
    d = schema.defects
    clauses = DEFECTS.where(store, query)
    with store.engine.connect() as conn:
        rows = conn.execute(select(d.c.code, d.c.name, d.c.status, func.count()).where(*clauses)
                            .group_by(d.c.code, d.c.name, d.c.status)).all()
    return [tuple(r) for r in rows]


def road_length_by_condition(store: Store) -> list[tuple[int | None, str, int, float | None]]:
    """(condition, label, segments, metres) per condition class of the rated segments, None (not rated)
    first; a segment counts its length on the network, or what was driven of it where that is unknown."""
    c, s = schema.segment_condition, schema.segments
    length = func.coalesce(s.c.length_m, func.coalesce(c.c.covered_m, 0.0))
    with store.engine.connect() as conn:
        rows = conn.execute(select(c.c.condition, func.min(c.c.condition_label), func.count(), func.sum(length))
                            .select_from(c.outerjoin(s, s.c.segment_id == c.c.segment_id))
                            .where(c.c.level == "segment").group_by(c.c.condition).order_by(c.c.condition)).all()
    return [tuple(r) for r in rows]
