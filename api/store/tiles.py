"""What a vector tile reads of the store: the most urgent defects in a box, and the condition lines.

On PostgreSQL the defects' tile is made whole by the database (`defect_tile`): ST_AsMVT over the
GiST-indexed Web Mercator points (postgis.py), one query and no rows through Python. On SQLite it
returns None and the API encodes the rows `defect_points` reads (api/tiles.py): same layer, same
attributes, same order and limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, func, select, text

from roadscan.api.store import postgis, schema
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


def defect_tile(store: Store, z: int, x: int, y: int, *, layer: str, properties: Sequence[str], extent: int,
                buffer: int, limit: int) -> bytes | None:
    """The encoded MVT layer of the `limit` most urgent defects in tile z/x/y plus `buffer` tile units,
    with the given columns as attributes (times as their day) and the id as feature id, made by PostGIS;
    None where the store is not PostgreSQL (the caller encodes `defect_points` itself)."""
    if not postgis.is_postgres(store.engine):
        return None
    d = schema.defects
    cols = []
    for p in properties:  # names of the shared schema's columns only: nothing from a request reaches the SQL
        if isinstance(d.c[p].type, schema.UTCDateTime):
            cols.append(f"substr(d.{d.c[p].name}, 1, 10) AS {p}")
        else:
            cols.append(f"d.{d.c[p].name} AS {p}")
    sql = text(f"""
        SELECT ST_AsMVT(t.*, :layer, :extent, 'mvt_geom', 'mvt_id') FROM (
            SELECT d.id AS mvt_id, {', '.join(cols)},
                   ST_AsMVTGeom(d.{postgis.GEOM_3857}, ST_TileEnvelope(:z, :x, :y), :extent, :buffer, true) AS mvt_geom
            FROM defects AS d
            WHERE d.{postgis.GEOM_3857} && ST_TileEnvelope(:z, :x, :y, margin => :margin)
            ORDER BY d.priority DESC, d.id
            LIMIT :limit) AS t""")
    with store.engine.begin() as conn:
        # A tile reads a few thousand rows through the GiST index: starting parallel workers costs more than
        # it saves (measured: 150 ms of a 220 ms tile on a busy machine), so this query runs without them.
        conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        data = conn.execute(sql, {"layer": layer, "extent": extent, "z": z, "x": x, "y": y, "buffer": buffer,
                                  "margin": buffer / extent, "limit": limit}).scalar()
    return bytes(data) if data else b""


def road_lines(store: Store) -> list[Any]:
    """Every stored road segment, for the map's road basemap: rows with segment_id, name, road_class and
    geometry_wkt (LINESTRING, EPSG:4326), in segment order."""
    s = schema.segments
    with store.engine.connect() as conn:
        return conn.execute(select(s.c.segment_id, s.c.name, s.c.road_class, s.c.geometry_wkt)
                            .order_by(s.c.segment_id)).all()
