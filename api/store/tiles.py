"""What a vector tile reads of the store: the most urgent defects in a box, and the condition lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, func, select

from roadscan.api.store import schema
from roadscan.api.store.database import Store


def defect_points(store: Store, box: tuple[float, float, float, float], properties: Sequence[str],
                  limit: int) -> list[tuple]:
    """The `limit` most urgent defects in a lon/lat box (west, south, east, north): the given columns, then
    lon and lat. Times come as their day, YYYY-MM-DD text made in SQL: no datetime objects per row."""
    west, south, east, north = box
    d = schema.defects
    cols = [func.substr(cast(d.c[p], String), 1, 10).label(p) if isinstance(d.c[p].type, schema.UTCDateTime)
            else d.c[p] for p in properties]
    where = [d.c.lat >= south, d.c.lat <= north, d.c.lon >= west, d.c.lon <= east]
    with store.engine.connect() as conn:
        rows = conn.execute(select(*cols, d.c.lon, d.c.lat).where(*where).order_by(d.c.priority.desc(), d.c.id)
                            .limit(limit)).all()
    return [tuple(r) for r in rows]


def condition_lines(store: Store, level: str) -> list[Any]:
    """One level ("segment" or "bin") of the condition table, in segment and chainage order: rows with
    segment_id, level, bin_start_m, bin_end_m, road_name, condition, condition_label and geometry_wkt."""
    c = schema.segment_condition
    with store.engine.connect() as conn:
        return conn.execute(select(c.c.id, c.c.segment_id, c.c.level, c.c.bin_start_m, c.c.bin_end_m,
                                   c.c.road_name, c.c.condition, c.c.condition_label, c.c.geometry_wkt)
                            .where(c.c.level == level).order_by(c.c.segment_id, c.c.bin_start_m, c.c.id)).all()
