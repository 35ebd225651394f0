"""The stored feature layers (defects, segment condition, surveys), read a page at a time with SQL.

Each layer answers a `FeatureQuery` (bbox, time interval, the defect filter, queryables to equal,
a CQL2 filter, paging) with SQLAlchemy Core expressions and bound parameters: it counts the matches
with COUNT and reads only the page it serves, highest priority first for defects. Defects are
points in lat/lon columns, so the bbox and spatial CQL2 run in SQL on the lat/lon index; the line
layers (segment condition, surveys) are small and test their WKT lines against the bbox in memory
after the SQL filter. On PostgreSQL the defects' bbox and spatial CQL2 run on the PostGIS point and
its GiST index instead (postgis.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Table, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from roadscan.api.store import postgis, schema
from roadscan.api.store.cql2_sql import (
    BOOLEAN,
    GEOMETRY,
    INTEGER,
    NUMBER,
    STRING,
    TIMESTAMP,
    GeometryReader,
    PointColumns,
    Queryable,
    point_in,
    where_clause,
)
from roadscan.api.store.database import Store
from roadscan.api.store.filters import DefectFilter, defect_clauses
from roadscan.core.classes import CLASS_CODES
from roadscan.core.evidence import EVIDENCE_LEVELS
from roadscan.core.statuses import DEFECT_STATUSES


@dataclass
class FeatureQuery:
    """What to read of a layer; everything optional but the page."""

    bbox: shapely.Geometry | None = None  # CRS84
    start: datetime | None = None  # features whose time span meets [start, end]; None: open
    end: datetime | None = None
    defects: DefectFilter | None = None  # the defects layer's own filter
    equals: dict[str, Any] = field(default_factory=dict)  # queryable name -> the value it must equal
    filter: Any = None  # CQL2 JSON
    geometry: GeometryReader | None = None  # reads the filter's geometry literals as CRS84 shapes
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class Extent:
    """Where and when a layer's features are."""

    bbox: list[float] | None  # CRS84 min lon, min lat, max lon, max lat; None: no features
    interval: tuple[Any, Any] | None  # first and last time (None where unknown); None: the layer has no times


def _queryables(table: Table, spec: dict[str, tuple[str, str]], **extra: Queryable) -> dict[str, Queryable]:
    out = {name: Queryable(name, table.c[name], type_, text) for name, (type_, text) in spec.items()}
    out.update(extra)
    return out


@dataclass(frozen=True)
class Layer:
    """One stored layer: its table, its queryables, its id, and which of its columns are times."""

    table: Table
    queryables: dict[str, Queryable]
    id_column: str = "id"
    time: tuple[str, str] | None = None  # start and end columns a time interval is tested against

    # -- to override ---------------------------------------------------------------------------------

    def base(self) -> list[ColumnElement]:
        """Conditions every query of this layer has (e.g. one level of a table)."""
        return []

    def order(self) -> list[Any]:
        return [self.table.c[self.id_column]]

    def columns(self) -> list[Any]:
        return list(self.table.c)

    def frame(self, rows: list[Any]) -> gpd.GeoDataFrame:
        raise NotImplementedError

    def own_filter(self, query: FeatureQuery, dialect: str) -> list[ColumnElement]:
        """The layer's own filter (the defect filter) as conditions."""
        return []

    def points(self, dialect: str = "sqlite") -> PointColumns | None:
        return None

    # -- shared --------------------------------------------------------------------------------------

    def where(self, store: Store, query: FeatureQuery, *, spatial_in_sql: bool = True) -> list[ColumnElement]:
        """The query as SQL conditions; a CQL2 filter the store cannot evaluate raises FilterError."""
        t, dialect = self.table, store.engine.dialect.name
        clauses = self.base()
        if self.time is not None:
            start, end = (t.c[c] for c in self.time)
            if query.end is not None:
                clauses.append(start <= literal(query.end, type_=start.type))
            if query.start is not None:
                clauses.append(end >= literal(query.start, type_=end.type))
        clauses += self.own_filter(query, dialect)
        for name, value in query.equals.items():
            column = self.queryables[name].column
            clauses.append(column == literal(value, type_=column.type))
        points = self.points(dialect)
        if query.bbox is not None and spatial_in_sql and points is not None:
            clauses.append(point_in(points, query.bbox))
        if query.filter is not None:
            clauses.append(where_clause(query.filter, self.queryables, geometry=query.geometry, points=points,
                                        dialect=dialect))
        return clauses

    def page(self, store: Store, query: FeatureQuery) -> tuple[int, list[Any]]:
        """How many features match, and the rows of the page asked for."""
        clauses = self.where(store, query)
        with store.engine.connect() as conn:
            matched = conn.execute(select(func.count()).select_from(self.table).where(*clauses)).scalar_one()
            rows = [] if query.offset >= matched else conn.execute(
                select(*self.columns()).where(*clauses).order_by(*self.order())
                .limit(query.limit).offset(query.offset)).all()
        return matched, rows

    def items(self, store: Store, query: FeatureQuery) -> tuple[int, gpd.GeoDataFrame]:
        """How many features match, and the page of them asked for."""
        matched, rows = self.page(store, query)
        return matched, self.frame(rows)

    def one(self, store: Store, key: Any) -> gpd.GeoDataFrame:
        with store.engine.connect() as conn:
            rows = conn.execute(select(*self.columns())
                                .where(*self.base(), self.table.c[self.id_column] == key)).all()
        return self.frame(rows)

    def extent(self, store: Store) -> Extent:
        """The spatial (CRS84) and temporal extent of the stored features."""
        layer = self.frame(self._all(store))
        geoms = layer.geometry[~(layer.geometry.isna() | layer.geometry.is_empty)] if len(layer) else layer.geometry
        bbox = [float(v) for v in geoms.total_bounds] if len(geoms) else None
        times = None
        if self.time is not None:
            start, end = (pd.to_datetime(layer[c], utc=True).dropna() for c in self.time)
            times = (start.min() if len(start) else None, end.max() if len(end) else None)
        return Extent(bbox, times)

    def _all(self, store: Store) -> list[Any]:
        with store.engine.connect() as conn:
            return conn.execute(select(*self.columns()).where(*self.base()).order_by(*self.order())).all()


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
    "source_id": (STRING, "id of the source road feature (GeoDanmark id.lokalId, OSM way id, NVDB veglenkesekvens)"),
    "source_kind": (STRING, "which road data the source is (geodanmark, osm, nvdb...)"),
    "municipality_code": (STRING, "municipality code of the road (GeoDanmark kommunekode)"),
    "road_code": (STRING, "the source's road code (GeoDanmark vejkode, NVDB vegsystemreferanse, OSM ref)"),
    "road_chainage_m": (NUMBER, "metres along the source road line"),
    "chainage_m": (NUMBER, "metres along the road segment"),
    "external_ref": (STRING, "external reference, e.g. a citizen's service request id"),
},
    code=Queryable("code", _d.c.code, STRING, "RDD2022 class code", enum=CLASS_CODES),
    status=Queryable("status", _d.c.status, STRING, "maintenance status", enum=DEFECT_STATUSES),
    evidence=Queryable("evidence", _d.c.evidence, STRING, "confirmed, or unconfirmed: a single weak sighting "
                       "(severity capped at 3, left off work lists)", enum=EVIDENCE_LEVELS),
    other_classes=Queryable("other_classes", _d.c.other_classes, STRING,
                            "other classes seen at the same spot (comma-separated codes)"),
    on_network=Queryable("on_network", _d.c.on_network, BOOLEAN, "whether it lies on the road network"),
    defect_id=Queryable("defect_id", _d.c.id, INTEGER, "the defect's id (the feature id, as an attribute)"),
    geometry=Queryable("geometry", None, GEOMETRY, "position (point)"),
    **{"class": Queryable("class", _d.c.code, STRING, "alias of code", enum=CLASS_CODES, listed=False)},
)
DEFECT_COLUMNS = [c for c in _d.c]


class DefectsLayer(Layer):
    def order(self) -> list[Any]:
        return [_d.c.priority.desc(), _d.c.id]

    def points(self, dialect: str = "sqlite") -> PointColumns:
        """lon/lat; on PostgreSQL also the GiST-indexed PostGIS point (postgis.py) that bbox and CQL2 run on."""
        return PointColumns(_d.c.lon, _d.c.lat, postgis.defects_column() if dialect == "postgresql" else None)

    def own_filter(self, query: FeatureQuery, dialect: str) -> list[ColumnElement]:
        return defect_clauses(query.defects, dialect) if query.defects is not None else []

    def frame(self, rows: list[Any]) -> gpd.GeoDataFrame:
        table = pd.DataFrame(rows, columns=[c.name for c in DEFECT_COLUMNS])
        layer = gpd.GeoDataFrame(table.drop(columns=["lat", "lon"]),
                                 geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)
        layer["on_network"] = layer["on_network"].astype(bool)
        layer.insert(0, "defect_id", layer["id"])  # the id as an ordinary attribute too: QGIS numbers features 1..n
        layer["priority_breakdown"] = layer["priority_breakdown"].map(
            lambda v: json.loads(v) if isinstance(v, str) else v)
        return layer

    def extent(self, store: Store) -> Extent:
        """From SQL aggregates: a million defects need not be read to say where they are."""
        with store.engine.connect() as conn:
            row = conn.execute(select(func.min(_d.c.lon), func.min(_d.c.lat), func.max(_d.c.lon), func.max(_d.c.lat),
                                      func.min(_d.c.first_seen), func.max(_d.c.last_seen))).one()
        bbox = [float(v) for v in row[:4]] if row[0] is not None else None
        return Extent(bbox, (row[4], row[5]))


# -- line layers: WKT, small tables -------------------------------------------------------------------


class LineLayer(Layer):
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

    def items(self, store: Store, query: FeatureQuery) -> tuple[int, gpd.GeoDataFrame]:
        if query.bbox is None:
            return super().items(store, query)
        clauses = self.where(store, query, spatial_in_sql=False)
        with store.engine.connect() as conn:
            rows = conn.execute(select(*self.columns()).where(*clauses).order_by(*self.order())).all()
        layer = self.frame(rows)
        layer = layer[layer.intersects(query.bbox)] if len(layer) else layer
        return len(layer), layer.iloc[query.offset:query.offset + query.limit]


_c = schema.segment_condition


class ConditionLayer(LineLayer):
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


_s = schema.surveys


class SurveysLayer(LineLayer):
    """Surveys as the track line they covered; file paths on the processing machine are not served."""

    wkt_column = "track_wkt"
    served = ("id", "name", "footage_kind", "gps_format", "model", "started_at", "ended_at", "processed_at",
              "distance_m", "frames_read", "frames_sampled", "detections")
    time_columns = ("started_at", "ended_at", "processed_at")

    def order(self) -> list[Any]:
        return [_s.c.started_at, _s.c.id]


DEFECTS = DefectsLayer(_d, DEFECT_QUERYABLES, time=("first_seen", "last_seen"))
SEGMENT_CONDITION = ConditionLayer(_c, _queryables(_c, {
    "segment_id": (STRING, "road segment id"),
    "road_name": (STRING, "road name"),
    "road_class": (STRING, "road class"),
    "covered_m": (NUMBER, "metres of the segment driven"),
    "n_defects": (INTEGER, "open defects on it"),
    "index_per_100m": (NUMBER, "defect index per 100 m"),
    "condition": (INTEGER, "1 (good) to 5 (very poor); null where not rated"),
    "condition_label": (STRING, "condition in words"),
    "updated_at": (TIMESTAMP, "when it was last rated (UTC)"),
}), id_column="segment_id", time=("updated_at", "updated_at"))
SURVEYS = SurveysLayer(_s, _queryables(_s, {
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
}), time=("started_at", "ended_at"))
