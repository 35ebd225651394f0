"""The feature collections: small providers that turn the store's tables into CRS84 layers.

Each provider returns a GeoDataFrame with the feature id, the properties a GIS user sees and the
geometry; `defects` reuses `DefectFilter`/`defects_layer`, so a filter means what it means on the
command line and in the exports.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
from sqlalchemy import select

from roadscan.api.exports import CLASS_CODES, DefectFilter, condition_layer, defects_layer
from roadscan.api.ogc.errors import bad_request
from roadscan.api.store import schema
from roadscan.api.store.database import Store
from roadscan.api.store.schema import DEFECT_STATUSES

# Property filters are plain query parameters (OGC 17-069r4, 7.15.5); values are comma-separated lists.
DEFECT_FILTERS = {
    "class": f"class code(s), comma-separated: {', '.join(CLASS_CODES)}",
    "status": f"status(es), comma-separated: {', '.join(DEFECT_STATUSES)}",
    "min_severity": "only defects of at least this severity (1-5)",
    "road": "road name contains this (case-insensitive)",
}


@dataclass(frozen=True)
class Collection:
    """One collection: what it is, how to read it, and which of its properties are times."""

    id: str
    title: str
    description: str
    read: Callable[[Store, dict[str, str]], gpd.GeoDataFrame]
    id_column: str = "id"
    id_is_int: bool = True
    time: tuple[str, str] | None = None  # start and end columns a datetime query is tested against
    filters: dict[str, str] = field(default_factory=dict)  # query parameter -> what it selects


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def read_defects(store: Store, params: dict[str, str]) -> gpd.GeoDataFrame:
    min_severity = params.get("min_severity")
    if min_severity is not None:
        try:
            min_severity = int(min_severity)
        except ValueError:
            raise bad_request(f"min_severity '{min_severity}' must be a whole number from 1 to 5") from None
    flt = DefectFilter(codes=_split(params.get("class")), statuses=_split(params.get("status")),
                       min_severity=min_severity, road=params.get("road") or None)
    layer = defects_layer(store, flt).drop(columns=["lat", "lon"])
    layer["on_network"] = layer["on_network"].astype(bool)
    layer["priority_breakdown"] = layer["priority_breakdown"].map(
        lambda v: json.loads(v) if isinstance(v, str) else v)
    return layer


def read_segment_condition(store: Store, params: dict[str, str]) -> gpd.GeoDataFrame:
    layer = condition_layer(store, "segment").drop(columns=["level", "bin_start_m", "bin_end_m"])
    layer["condition"] = layer["condition"].astype("Int64")  # 1-5, or null where not rated
    return layer


SURVEY_COLUMNS = ("id", "name", "footage_kind", "gps_format", "model", "started_at", "ended_at",
                  "processed_at", "distance_m", "frames_read", "frames_sampled", "detections")


def read_surveys(store: Store, params: dict[str, str]) -> gpd.GeoDataFrame:
    """Surveys as the track line they covered; file paths on the processing machine are not served."""
    s = schema.surveys
    with store.engine.connect() as conn:
        rows = conn.execute(select(*(s.c[c] for c in SURVEY_COLUMNS), s.c.track_wkt)
                            .order_by(s.c.started_at, s.c.id)).mappings().all()
    table = pd.DataFrame(rows, columns=[*SURVEY_COLUMNS, "track_wkt"])
    for col in ("started_at", "ended_at", "processed_at"):
        table[col] = pd.to_datetime(table[col], utc=True)
    geometry = gpd.GeoSeries.from_wkt(table["track_wkt"], crs=4326) if len(table) else gpd.GeoSeries(crs=4326)
    return gpd.GeoDataFrame(table.drop(columns="track_wkt"), geometry=geometry, crs=4326)


COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection("defects", "Road defects",
               "One point per physical defect across surveys (cracks, potholes), with human class names, "
               "severity, priority (and its breakdown) and status; highest priority first.",
               read_defects, time=("first_seen", "last_seen"), filters=DEFECT_FILTERS),
    Collection("segment_condition", "Road segment condition",
               "Condition class 1 (good) to 5 (very poor) per road segment, from the open defects and the "
               "length driven; null where too little of a segment was driven to rate it.",
               read_segment_condition, id_column="segment_id", id_is_int=False,
               time=("updated_at", "updated_at")),
    Collection("surveys", "Surveys",
               "The track each survey drove, with its time span and counts.",
               read_surveys, time=("started_at", "ended_at")),
)}
