"""The feature collections: small providers that answer an items query with SQL.

Each provider turns an `ItemsQuery` (bbox, datetime, property filters, a CQL2 filter, paging) into
SQLAlchemy Core expressions with bound parameters, counts the matches with COUNT and reads only the
page it serves, highest priority first for defects. Defects are points in lat/lon columns, so the
bbox and spatial CQL2 run in SQL on the lat/lon index; the line layers (segment condition, surveys)
are small and test their WKT lines against the bbox in memory after the SQL filter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from roadscan.core.classes import CLASS_CODES
from roadscan.api.crs import CRS84, ServedCRS
from roadscan.api.ogc import cql2
from roadscan.api.ogc.cql2 import (
    BOOLEAN,
    GEOMETRY,
    INTEGER,
    NUMBER,
    STRING,
    TIMESTAMP,
    FilterError,
    PointColumns,
    Queryable,
)
from roadscan.api.ogc.errors import bad_request
from roadscan.api.ogc.features import rfc3339
from roadscan.api.ogc.params import Interval
from roadscan.api.store import schema
from roadscan.api.store.database import Store
from roadscan.core.statuses import DEFECT_STATUSES
from sqlalchemy import Table, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"

# Property filters are plain query parameters (OGC 17-069r4, 7.15.5); values are comma-separated lists.
DEFECT_FILTERS = {
    "class": f"class code(s), comma-separated: {', '.join(CLASS_CODES)}",
    "status": f"status(es), comma-separated: {', '.join(DEFECT_STATUSES)}",
    "min_severity": "only defects of at least this severity (1-5)",
    "road": "road name contains this (case-insensitive)",
}


@dataclass
class ItemsQuery:
    """What a client asked of a collection's items; everything optional but the page."""

    bbox: shapely.Geometry | None = None  # CRS84
    interval: Interval | None = None
    params: dict[str, str] = field(default_factory=dict)  # property filters and queryables as parameters
    filter: dict[str, Any] | None = None  # CQL2 JSON
    filter_crs: ServedCRS | None = None
    limit: int = 100
    offset: int = 0


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _queryables(table: Table, spec: dict[str, tuple[str, str]], **extra: Queryable) -> dict[str, Queryable]:
    out = {name: Queryable(name, table.c[name], type_, text) for name, (type_, text) in spec.items()}
    out.update(extra)
    return out


@dataclass(frozen=True)
class Collection:
    """One collection: what it is, its table, its queryables, and which of its properties are times."""

    id: str
    title: str
    description: str
    table: Table
    queryables: dict[str, Queryable]
    id_column: str = "id"
    id_is_int: bool = True
    time: tuple[str, str] | None = None  # start and end columns a datetime query is tested against
    filters: dict[str, str] = field(default_factory=dict)  # query parameter -> what it selects

    # -- to override ---------------------------------------------------------------------------------

    def base(self) -> list[ColumnElement]:
        """Conditions every query of this collection has (e.g. one level of a table)."""
        return []

    def order(self) -> list[Any]:
        return [self.table.c[self.id_column]]

    def columns(self) -> list[Any]:
        return list(self.table.c)

    def frame(self, rows: list[Any]) -> gpd.GeoDataFrame:
        raise NotImplementedError

    def filter_clauses(self, params: dict[str, str], dialect: str) -> list[ColumnElement]:
        """The collection's own query parameters (see `filters`) as conditions."""
        return []

    def points(self) -> PointColumns | None:
        return None

    # -- shared --------------------------------------------------------------------------------------

    @property
    def parameters(self) -> set[str]:
        """Query parameters this collection takes besides the standard ones: its filters and its queryables."""
        return set(self.filters) | {n for n, q in self.queryables.items() if q.type != GEOMETRY and q.listed}

    def where(self, store: Store, query: ItemsQuery, *, spatial_in_sql: bool = True) -> list[ColumnElement]:
        t = self.table
        clauses = self.base()
        if query.interval is not None and self.time is not None:
            start, end = (t.c[c] for c in self.time)
            if query.interval.end is not None:
                clauses.append(start <= literal(query.interval.end, type_=start.type))
            if query.interval.start is not None:
                clauses.append(end >= literal(query.interval.start, type_=end.type))
        clauses += self.filter_clauses(query.params, store.engine.dialect.name)
        clauses += self._queryable_params(query.params)
        if query.bbox is not None and spatial_in_sql and self.points() is not None:
            clauses.append(cql2.point_in(self.points(), query.bbox))
        if query.filter is not None:
            try:
                clauses.append(cql2.where_clause(query.filter, self.queryables, points=self.points(),
                                                 crs=query.filter_crs, dialect=store.engine.dialect.name))
            except FilterError as exc:
                raise bad_request(str(exc)) from None
        return clauses

    def _queryable_params(self, params: dict[str, str]) -> list[ColumnElement]:
        """Queryables as query parameters (Part 3, queryables-query-parameters): `?severity=3` means =."""
        out = []
        for name, text in params.items():
            q = self.queryables.get(name)
            if name in self.filters or q is None or q.type == GEOMETRY:
                continue
            out.append(q.column == literal(_typed(name, text, q), type_=q.column.type))
        return out

    def items(self, store: Store, query: ItemsQuery) -> tuple[int, gpd.GeoDataFrame]:
        """How many features match, and the page of them asked for."""
        clauses = self.where(store, query)
        with store.engine.connect() as conn:
            matched = conn.execute(select(func.count()).select_from(self.table).where(*clauses)).scalar_one()
            rows = [] if query.offset >= matched else conn.execute(
                select(*self.columns()).where(*clauses).order_by(*self.order())
                .limit(query.limit).offset(query.offset)).all()
        return matched, self.frame(rows)

    def one(self, store: Store, key: Any) -> gpd.GeoDataFrame:
        with store.engine.connect() as conn:
            rows = conn.execute(select(*self.columns())
                                .where(*self.base(), self.table.c[self.id_column] == key)).all()
        return self.frame(rows)

    def extent(self, store: Store) -> dict[str, Any]:
        """The spatial (CRS84) and temporal extent of the stored features."""
        layer = self.frame(self._all(store))
        geoms = layer.geometry[~(layer.geometry.isna() | layer.geometry.is_empty)] if len(layer) else layer.geometry
        bbox = [float(v) for v in geoms.total_bounds] if len(geoms) else None
        times = None
        if self.time is not None:
            start, end = (pd.to_datetime(layer[c], utc=True).dropna() for c in self.time)
            times = (start.min() if len(start) else None, end.max() if len(end) else None)
        return _extent(bbox, times)

    def _all(self, store: Store) -> list[Any]:
        with store.engine.connect() as conn:
            return conn.execute(select(*self.columns()).where(*self.base()).order_by(*self.order())).all()

    def queryables_schema(self, url: str) -> dict[str, Any]:
        """The queryables as a JSON Schema (OGC 19-079r2, 6.2)."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": url,
            "type": "object",
            "title": self.title,
            "description": f"Properties of {self.id} that a filter (CQL2) or a query parameter may test.",
            "properties": {n: q.schema() for n, q in self.queryables.items() if q.listed},
            "additionalProperties": False,
        }


def _extent(bbox: list[float] | None, times: tuple[Any, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"spatial": {"bbox": [bbox or [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84}}
    if times is not None:
        out["temporal"] = {"interval": [[rfc3339(t) if t is not None else None for t in times]], "trs": TRS}
    return out


def contains_casei(column: Any, text: str, dialect: str) -> ColumnElement:
    """The column contains the text, ignoring case in every alphabet (SQLite's LIKE folds ASCII only)."""
    if dialect == "sqlite":
        return column.op("GLOB")(literal("*" + cql2.casei_glob(cql2.glob_escape(text)) + "*"))
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(literal(f"%{escaped}%"), escape="\\")


def _typed(name: str, text: str, q: Queryable) -> Any:
    try:
        if q.type == INTEGER:
            return int(text)
        if q.type == NUMBER:
            return float(text)
        if q.type == BOOLEAN:
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        if q.type == TIMESTAMP:
            value = datetime.fromisoformat(text.replace("z", "Z"))
            if value.tzinfo is None:
                raise ValueError
            return value
    except (ValueError, KeyError):
        kind = {INTEGER: "a whole number", NUMBER: "a number", BOOLEAN: "true or false",
                TIMESTAMP: "an RFC 3339 date-time with time zone"}[q.type]
        raise bad_request(f"{name} '{text}' must be {kind}") from None
    if q.enum and text not in q.enum:
        raise bad_request(f"{name} '{text}' is not one of {', '.join(q.enum)}")
    return text


# -- defects: points in lat/lon columns ---------------------------------------------------------------

_d = schema.defects
DEFECT_QUERYABLES = _queryables(_d, {
    "id": (INTEGER, "feature id"),
    "name": (STRING, "class name, e.g. pothole"),
    "family": (STRING, "crack, pothole or repair"),
    "severity": (INTEGER, "1 (minor) to 5 (severe)"),
    "priority": (NUMBER, "repair priority, higher first"),
    "road_name": (STRING, "name of the road it lies on"),
    "road_class": (STRING, "road class of that road"),
    "segment_id": (STRING, "road segment it was snapped to"),
    "side": (STRING, "side of the road: left, right or centre"),
    "n_obs": (INTEGER, "number of sightings"),
    "n_surveys": (INTEGER, "number of surveys that saw it"),
    "max_confidence": (NUMBER, "highest detector confidence"),
    "mean_confidence": (NUMBER, "mean detector confidence"),
    "certainty": (NUMBER, "certainty that it is real, 0-1"),
    "width_m": (NUMBER, "width in metres"),
    "length_m": (NUMBER, "length in metres"),
    "area_m2": (NUMBER, "area in square metres"),
    "first_seen": (TIMESTAMP, "first sighting (UTC)"),
    "last_seen": (TIMESTAMP, "last sighting (UTC)"),
    "updated_at": (TIMESTAMP, "last change (UTC)"),
},
    code=Queryable("code", _d.c.code, STRING, "RDD2022 class code", enum=CLASS_CODES),
    status=Queryable("status", _d.c.status, STRING, "maintenance status", enum=DEFECT_STATUSES),
    on_network=Queryable("on_network", _d.c.on_network, BOOLEAN, "whether it lies on the road network"),
    geometry=Queryable("geometry", None, GEOMETRY, "position (point)"),
    **{"class": Queryable("class", _d.c.code, STRING, "alias of code", enum=CLASS_CODES, listed=False)},
)
DEFECT_COLUMNS = [c for c in _d.c]


class DefectsCollection(Collection):
    def order(self) -> list[Any]:
        return [_d.c.priority.desc(), _d.c.id]

    def points(self) -> PointColumns:
        return PointColumns(_d.c.lon, _d.c.lat)

    def filter_clauses(self, params: dict[str, str], dialect: str) -> list[ColumnElement]:
        out = []
        codes = _split(params.get("class"))
        if "class" in params:
            unknown = sorted(set(codes) - set(CLASS_CODES)) or ([] if codes else [params["class"]])
            if unknown:
                raise bad_request(f"unknown defect class {unknown}: use {', '.join(CLASS_CODES)}")
            out.append(_d.c.code.in_(codes))
        statuses = _split(params.get("status"))
        if "status" in params:
            bad = sorted(set(statuses) - set(DEFECT_STATUSES)) or ([] if statuses else [params["status"]])
            if bad:
                raise bad_request(f"unknown status {bad}: use {', '.join(DEFECT_STATUSES)}")
            out.append(_d.c.status.in_(statuses))
        if "min_severity" in params:
            try:
                level = int(params["min_severity"])
            except ValueError:
                level = 0
            if not 1 <= level <= 5:
                raise bad_request(f"min_severity '{params['min_severity']}' must be a whole number from 1 to 5")
            out.append(_d.c.severity >= level)
        if params.get("road"):
            out.append(contains_casei(_d.c.road_name, params["road"], dialect))
        return out

    def frame(self, rows: list[Any]) -> gpd.GeoDataFrame:
        table = pd.DataFrame(rows, columns=[c.name for c in DEFECT_COLUMNS])
        layer = gpd.GeoDataFrame(table.drop(columns=["lat", "lon"]),
                                 geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)
        layer["on_network"] = layer["on_network"].astype(bool)
        layer["priority_breakdown"] = layer["priority_breakdown"].map(
            lambda v: json.loads(v) if isinstance(v, str) else v)
        return layer

    def extent(self, store: Store) -> dict[str, Any]:
        """From SQL aggregates: a million defects need not be read to say where they are."""
        with store.engine.connect() as conn:
            row = conn.execute(select(func.min(_d.c.lon), func.min(_d.c.lat), func.max(_d.c.lon), func.max(_d.c.lat),
                                      func.min(_d.c.first_seen), func.max(_d.c.last_seen))).one()
        bbox = [float(v) for v in row[:4]] if row[0] is not None else None
        return _extent(bbox, (row[4], row[5]))


# -- line layers: WKT, small tables -------------------------------------------------------------------


class LineCollection(Collection):
    """A table with a WKT geometry column; the bbox is tested in memory on the SQL-filtered rows."""

    wkt_column: str = "geometry_wkt"
    served: tuple[str, ...] = ()
    time_columns: tuple[str, ...] = ()

    def columns(self) -> list[Any]:
        return [self.table.c[c] for c in (*self.served, self.wkt_column)]

    def frame(self, rows: list[Any]) -> gpd.GeoDataFrame:
        table = pd.DataFrame(rows, columns=[*self.served, self.wkt_column])
        for col in self.time_columns:
            table[col] = pd.to_datetime(table[col], utc=True)
        geometry = gpd.GeoSeries.from_wkt(table[self.wkt_column], crs=4326) if len(table) else gpd.GeoSeries(crs=4326)
        return gpd.GeoDataFrame(table.drop(columns=self.wkt_column), geometry=geometry, crs=4326)

    def items(self, store: Store, query: ItemsQuery) -> tuple[int, gpd.GeoDataFrame]:
        if query.bbox is None:
            return super().items(store, query)
        clauses = self.where(store, query, spatial_in_sql=False)
        with store.engine.connect() as conn:
            rows = conn.execute(select(*self.columns()).where(*clauses).order_by(*self.order())).all()
        layer = self.frame(rows)
        layer = layer[layer.intersects(query.bbox)] if len(layer) else layer
        return len(layer), layer.iloc[query.offset:query.offset + query.limit]


_c = schema.segment_condition


class ConditionCollection(LineCollection):
    served = ("segment_id", "road_name", "road_class", "covered_m", "n_defects", "index_per_100m", "condition",
              "condition_label", "updated_at")
    time_columns = ("updated_at",)

    def base(self) -> list[ColumnElement]:
        return [_c.c.level == "segment"]

    def order(self) -> list[Any]:
        return [_c.c.segment_id, _c.c.id]

    def frame(self, rows: list[Any]) -> gpd.GeoDataFrame:
        layer = super().frame(rows)
        layer["condition"] = layer["condition"].astype("Int64")  # 1-5, or null where not rated
        return layer


class SurveysCollection(LineCollection):
    """Surveys as the track line they covered; file paths on the processing machine are not served."""

    wkt_column = "track_wkt"
    served = ("id", "name", "footage_kind", "gps_format", "model", "started_at", "ended_at", "processed_at",
              "distance_m", "frames_read", "frames_sampled", "detections")
    time_columns = ("started_at", "ended_at", "processed_at")

    def order(self) -> list[Any]:
        return [schema.surveys.c.started_at, schema.surveys.c.id]


_s = schema.surveys

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    DefectsCollection(
        "defects", "Road defects",
        "One point per physical defect across surveys (cracks, potholes), with human class names, "
        "severity, priority (and its breakdown) and status; highest priority first.",
        _d, DEFECT_QUERYABLES, time=("first_seen", "last_seen"), filters=DEFECT_FILTERS),
    ConditionCollection(
        "segment_condition", "Road segment condition",
        "Condition class 1 (good) to 5 (very poor) per road segment, from the open defects and the "
        "length driven; null where too little of a segment was driven to rate it.",
        _c, _queryables(_c, {
            "segment_id": (STRING, "road segment id"),
            "road_name": (STRING, "road name"),
            "road_class": (STRING, "road class"),
            "covered_m": (NUMBER, "metres of the segment driven"),
            "n_defects": (INTEGER, "open defects on it"),
            "index_per_100m": (NUMBER, "defect index per 100 m"),
            "condition": (INTEGER, "1 (good) to 5 (very poor); null where not rated"),
            "condition_label": (STRING, "condition in words"),
            "updated_at": (TIMESTAMP, "when it was last rated (UTC)"),
        }), id_column="segment_id", id_is_int=False, time=("updated_at", "updated_at")),
    SurveysCollection(
        "surveys", "Surveys", "The track each survey drove, with its time span and counts.",
        _s, _queryables(_s, {
            "id": (INTEGER, "survey id"),
            "name": (STRING, "survey name"),
            "footage_kind": (STRING, "video or images"),
            "gps_format": (STRING, "GPS source format"),
            "model": (STRING, "detector model"),
            "started_at": (TIMESTAMP, "start of the drive (UTC)"),
            "ended_at": (TIMESTAMP, "end of the drive (UTC)"),
            "processed_at": (TIMESTAMP, "when it was processed (UTC)"),
            "distance_m": (NUMBER, "metres driven"),
            "frames_read": (INTEGER, "frames read"),
            "frames_sampled": (INTEGER, "frames sampled"),
            "detections": (INTEGER, "detections"),
        }), time=("started_at", "ended_at")),
)}
