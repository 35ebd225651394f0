"""The feature collections: what each is called and described as, and how a request becomes a query.

Each collection reads one of the store's feature layers (api/store/features.py), which does the
SQL. Here an `ItemsQuery` (the request's bbox, datetime, property filters, queryables given as
parameters, CQL2 filter, paging) becomes the store's `FeatureQuery`: the defect filters become the
store's `DefectFilter`, queryable parameters typed values, and a refused filter a 400.

Which time `datetime` tests is stated, not guessed: each collection names its temporal properties
(`temporal`, shown in its metadata and as `x-ogc-role` in its queryables), and `datetime-property`
moves `datetime` onto another time property. QGIS (3.22) and GDAL without CQL turn a filter on *any*
date field into `datetime`; a layer URL that carries `datetime-property=updated_at` makes that filter
the one the user wrote. Filters in pre-standard CQL text (GDAL's `filter-lang=cql-text`) compare
times with plain strings ('2026-06-01T08:00:00Z', or '2026-06-01T' for a day); those strings are
read as timestamps when the property is one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import geopandas as gpd
import shapely
from roadscan.core.classes import CLASS_CODES
from roadscan.api.crs import CRS84, ServedCRS
from roadscan.api.ogc import cql2
from roadscan.api.ogc.errors import bad_request
from roadscan.api.ogc.features import rfc3339
from roadscan.api.ogc.params import Interval
from roadscan.api.store.cql2_sql import BOOLEAN, GEOMETRY, INTEGER, NUMBER, TIMESTAMP, FilterError, Queryable
from roadscan.api.store.database import Store
from roadscan.api.store.features import DEFECTS, SEGMENT_CONDITION, SURVEYS, Extent, FeatureQuery, Layer
from roadscan.api.store.filters import DefectFilter
from roadscan.api.store.values import INT64_RANGE, TIME_RANGE, fits_int64, utc
from roadscan.core.statuses import DEFECT_STATUSES

TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
DATETIME_PROPERTY = "datetime-property"  # query parameter: the time property `datetime` tests
COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}
# A time as clients write it in a string: date, optional hour, minute, second (GDAL: '2026-06-01T',
# '2026-06-01T08Z'), optional zone (UTC if none).
_LOOSE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[Tt ](\d{2})?(?::(\d{2}))?(?::(\d{2}(?:\.\d+)?))?)?"
                         r"([Zz]|[-+]\d{2}:\d{2})?$")

# Property filters are plain query parameters (OGC 17-069r4, 7.15.5); values are comma-separated lists.
DEFECT_FILTERS = {
    "class": f"class code(s) or name(s), comma-separated: {', '.join(CLASS_CODES)}",
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
    datetime_property: str | None = None  # None: the collection's own temporal properties
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class Collection:
    """One collection: what it is, the stored layer it serves, and its own query parameters."""

    id: str
    title: str
    description: str
    layer: Layer
    id_is_int: bool = True
    filters: dict[str, str] = field(default_factory=dict)  # query parameter -> what it selects
    temporal_text: str = ""  # what `datetime` selects by default, in words

    @property
    def temporal(self) -> tuple[str, str] | None:
        """The start and end properties `datetime` tests by default (the same one twice for an instant)."""
        return self.layer.time

    @property
    def time_properties(self) -> list[str]:
        """The time properties `datetime-property` may name."""
        return [n for n, q in self.queryables.items() if q.type == TIMESTAMP and q.listed]

    def temporal_metadata(self) -> dict[str, Any] | None:
        """How `datetime` filters this collection, for its metadata (clients and people read it)."""
        if self.temporal is None:
            return None
        start, end = self.temporal
        return {"description": self.temporal_text or (
                    f"datetime selects features whose {start} equals it or lies in it" if start == end else
                    f"datetime selects features whose {start}-{end} span meets it"),
                "start": start, "end": end,
                "parameter": DATETIME_PROPERTY, "properties": self.time_properties,
                "parameterDescription": f"{DATETIME_PROPERTY}=NAME moves datetime onto one of these properties "
                                        "(e.g. in a QGIS or GDAL layer URL, which folds a filter on any date "
                                        "field into datetime)"}

    @property
    def queryables(self) -> dict[str, Queryable]:
        return self.layer.queryables

    @property
    def id_column(self) -> str:
        return self.layer.id_column

    @property
    def parameters(self) -> set[str]:
        """Query parameters this collection takes besides the standard ones: its filters and its queryables."""
        return set(self.filters) | {n for n, q in self.queryables.items() if q.type != GEOMETRY and q.listed}

    def query(self, query: ItemsQuery) -> FeatureQuery:
        """The request as the store's query; a parameter that is not understood is a 400."""
        params = query.params
        defects = None
        if self.filters:
            defects = DefectFilter.parse(classes=params.get("class"), statuses=params.get("status"),
                                         min_severity=params.get("min_severity"), road=params.get("road"))
        equals = {name: _typed(name, text, self.queryables[name]) for name, text in params.items()
                  if name not in self.filters and name in self.queryables and self.queryables[name].type != GEOMETRY}
        interval = query.interval or Interval(None, None)
        expr = _times_as_timestamps(query.filter, self.queryables) if query.filter is not None else None
        if query.datetime_property is not None:
            if query.datetime_property not in self.time_properties:
                raise bad_request(f"{DATETIME_PROPERTY} '{query.datetime_property}' is not a time property of "
                                  f"{self.id}; use one of {', '.join(self.time_properties) or '(none)'}")
            expr = _and(expr, _interval_on(query.datetime_property, interval))
            interval = Interval(None, None)
        return FeatureQuery(bbox=query.bbox, start=interval.start, end=interval.end, defects=defects, equals=equals,
                            filter=expr, geometry=partial(cql2.geometry_literal, crs=query.filter_crs),
                            limit=query.limit, offset=query.offset)

    def items(self, store: Store, query: ItemsQuery) -> tuple[int, gpd.GeoDataFrame]:
        """How many features match, and the page of them asked for."""
        try:
            return self.layer.items(store, self.query(query))
        except FilterError as exc:
            raise bad_request(str(exc)) from None

    def one(self, store: Store, key: Any) -> gpd.GeoDataFrame:
        return self.layer.one(store, key)

    def extent(self, store: Store) -> dict[str, Any]:
        """The spatial (CRS84) and temporal extent of the stored features, as a collection describes it."""
        return _extent(self.layer.extent(store))

    def queryables_schema(self, url: str) -> dict[str, Any]:
        """The queryables as a JSON Schema (OGC 19-079r2, 6.2)."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": url,
            "type": "object",
            "title": self.title,
            "description": f"Properties of {self.id} that a filter (CQL2) or a query parameter may test.",
            "properties": {n: self._role(n, _schema(q)) for n, q in self.queryables.items() if q.listed},
            "additionalProperties": False,
        }


    def _role(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """The temporal properties marked as OGC API Features Part 5 (schemas) marks them: what datetime tests."""
        if self.temporal is not None and name in self.temporal:
            start, end = self.temporal
            schema["x-ogc-role"] = "primary-instant" if start == end else \
                "primary-interval-start" if name == start else "primary-interval-end"
        return schema


def _interval_on(name: str, interval: Interval) -> dict[str, Any] | None:
    """A datetime interval on one time property, as CQL2 JSON."""
    parts = [{"op": op, "args": [{"property": name}, {"timestamp": rfc3339(t)}]}
             for op, t in ((">=", interval.start), ("<=", interval.end)) if t is not None]
    return None if not parts else parts[0] if len(parts) == 1 else {"op": "and", "args": parts}


def _and(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    return b if a is None else a if b is None else {"op": "and", "args": [a, b]}


def loose_timestamp(text: str) -> str | None:
    """A time written loosely in a string (a day; hours without minutes; no zone: UTC) as RFC 3339, or None."""
    m = _LOOSE_TIME.match(text.strip())
    if not m:
        return None
    day, hour, minute, second, zone = m.groups()
    zone = "Z" if zone in (None, "z") else zone
    return f"{day}T{hour or '00'}:{minute or '00'}:{second or '00'}{zone}"


def _times_as_timestamps(expr: Any, queryables: dict[str, Queryable]) -> Any:
    """The filter with each string compared to a time property read as a TIMESTAMP (GDAL's CQL text
    writes `updated_at <= '2026-06-01T08:00:00Z'`); everything else as it was."""
    if isinstance(expr, list):
        return [_times_as_timestamps(e, queryables) for e in expr]
    if not isinstance(expr, dict):
        return expr
    op = expr.get("op")
    if isinstance(op, str) and op in COMPARISONS | {"between"} and isinstance(expr.get("args"), list):
        args = expr["args"]
        props = [a["property"] for a in args if isinstance(a, dict) and isinstance(a.get("property"), str)]
        if any(p in queryables and queryables[p].type == TIMESTAMP for p in props):
            out = []
            for a in args:
                stamp = loose_timestamp(a) if isinstance(a, str) else None
                out.append({"timestamp": stamp} if stamp else a)
            return {**expr, "args": out}
        return expr
    return {k: _times_as_timestamps(v, queryables) for k, v in expr.items()}


def _extent(extent: Extent) -> dict[str, Any]:
    out: dict[str, Any] = {"spatial": {"bbox": [extent.bbox or [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84}}
    if extent.interval is not None:
        out["temporal"] = {"interval": [[rfc3339(t) if t is not None else None for t in extent.interval]], "trs": TRS}
    return out


def _schema(q: Queryable) -> dict[str, Any]:
    """One queryable as a JSON Schema property."""
    out: dict[str, Any] = {"title": q.name}
    if q.description:
        out["description"] = q.description
    if q.type == GEOMETRY:
        out.update({"format": "geometry-point", "x-ogc-role": "primary-geometry"})
    elif q.type == TIMESTAMP:
        out.update({"type": "string", "format": "date-time"})
    else:
        out["type"] = q.type
    if q.enum:
        out["enum"] = list(q.enum)
    return out


def _typed(name: str, text: str, q: Queryable) -> Any:
    """A queryable given as a query parameter (Part 3, queryables-query-parameters), as its type's value."""
    try:
        if q.type == INTEGER:
            if not fits_int64(value := int(text)):
                raise ValueError
            return value
        if q.type == NUMBER:
            if not math.isfinite(value := float(text)):
                raise ValueError
            return value
        if q.type == BOOLEAN:
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        if q.type == TIMESTAMP:
            value = datetime.fromisoformat(text.replace("z", "Z"))
            if value.tzinfo is None:
                raise ValueError
            return utc(value)
    except (ValueError, KeyError):
        kind = {INTEGER: f"a whole number from {INT64_RANGE}", NUMBER: "a finite number", BOOLEAN: "true or false",
                TIMESTAMP: f"an RFC 3339 date-time with time zone, within {TIME_RANGE}"}[q.type]
        raise bad_request(f"{name} '{text}' must be {kind}") from None
    if q.enum and text not in q.enum:
        raise bad_request(f"{name} '{text}' is not one of {', '.join(q.enum)}")
    return text


COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection(
        "defects", "Road defects",
        "One point per physical defect across surveys (cracks, potholes), with human class names, "
        "severity, priority (and its breakdown) and status; highest priority first.",
        DEFECTS, filters=DEFECT_FILTERS,
        temporal_text="datetime selects the defects seen in it: first_seen on or before its end and last_seen "
                      "on or after its start (datetime-property=updated_at, first_seen or last_seen tests that "
                      "one property instead)"),
    Collection(
        "segment_condition", "Road segment condition",
        "Condition class 1 (good) to 5 (very poor) per road segment, from the open defects and the "
        "length driven; null where too little of a segment was driven to rate it.",
        SEGMENT_CONDITION, id_is_int=False),
    Collection("surveys", "Surveys", "The track each survey drove, with its time span and counts.", SURVEYS),
)}
