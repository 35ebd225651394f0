"""The stored road network: the segments surveys were snapped to, as work-list routing takes them."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from roadscan.api.store import schema
from roadscan.api.store.database import Store


def road_network(store: Store) -> pd.DataFrame:
    """Every stored segment: segment_id, geometry_wkt (EPSG:4326) and length_m."""
    s = schema.segments
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.c.segment_id, s.c.geometry_wkt, s.c.length_m)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["segment_id", "geometry_wkt", "length_m"])


SEGMENT_REFERENCE = ("segment_id", "source_id", "source_kind", "municipality_code", "road_code", "road_start_m")


def segment_references(store: Store, ids=None, *, chunk: int = 500) -> pd.DataFrame:
    """The source road reference (schema 6) of the stored segments with these ids (None: every one):
    SEGMENT_REFERENCE columns, NULL where a segment was stored before its network's reference was kept."""
    s = schema.segments
    query = select(*(s.c[c] for c in SEGMENT_REFERENCE))
    with store.engine.connect() as conn:
        if ids is None:
            rows = conn.execute(query).all()
        else:
            ids = list(dict.fromkeys(ids))
            rows = [r for i in range(0, len(ids), chunk)
                    for r in conn.execute(query.where(s.c.segment_id.in_(ids[i:i + chunk]))).all()]
    return pd.DataFrame([tuple(r) for r in rows], columns=list(SEGMENT_REFERENCE))
