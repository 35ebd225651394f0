"""CQL2 filters (OGC API Features Part 3, OGC 21-065 CQL2) as SQLAlchemy expressions.

The API parses CQL2 text or JSON (api/ogc/cql2.py); what it hands the store is CQL2 JSON, which
`where_clause` walks and turns into a SQLAlchemy Core expression over a layer's queryables. Every
literal becomes a bound parameter: no SQL is ever built from text. Geometry literals come in the
client's CRS, which only the API knows, so it passes a function that reads one as a CRS84 shape.

Supported: comparisons (= <> < <= > >=), AND/OR/NOT, LIKE, IN, BETWEEN, IS NULL (basic CQL2 and the
advanced comparison operators), CASEI, and on point layers S_INTERSECTS / S_WITHIN / S_DISJOINT
with a BBOX, POINT, MULTIPOINT, POLYGON or MULTIPOLYGON literal. A DATE compared with a timestamp
means the whole (UTC) day. Anything else -- an unknown property, a literal of the wrong type, an
unsupported function -- is a `FilterError`, which the API answers with a 400.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import and_, case, false, func, literal, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from roadscan.api.store.matching import casei_glob, glob_escape, like_to_glob
from roadscan.api.store.values import INT64_RANGE, day_bounds, fits_int64, utc

MAX_VERTICES = 1000  # a polygon literal becomes one SQL term per edge
MAX_PARTS = 100  # a multi-geometry literal becomes an OR of its parts, which SQLite nests one level each

# JSON Schema types of queryables; "timestamp" is a string with format date-time.
STRING, INTEGER, NUMBER, BOOLEAN, TIMESTAMP, GEOMETRY = "string", "integer", "number", "boolean", "timestamp", "geometry"
_COMPARABLE = {STRING: STRING, INTEGER: NUMBER, NUMBER: NUMBER, BOOLEAN: BOOLEAN, TIMESTAMP: TIMESTAMP}


class FilterError(ValueError):
    """A filter the server cannot evaluate; the message says what to change."""


@dataclass(frozen=True)
class Queryable:
    """A property a filter may name: its column, its type and, for strings, its allowed values."""

    name: str
    column: Any  # a SQLAlchemy column (None for the geometry)
    type: str
    description: str = ""
    enum: tuple[str, ...] | None = None
    listed: bool = True  # False: an accepted alias that the queryables document leaves out


@dataclass(frozen=True)
class PointColumns:
    """Where a point collection keeps its CRS84 position: longitude and latitude columns, and on PostGIS
    also a Point geometry column (EPSG:4326, GiST-indexed) that spatial tests run on instead."""

    lon: Any
    lat: Any
    geom: Any = None


# Reads a CQL2 geometry literal (GeoJSON, or {"bbox": [...]}) as a CRS84 shape; raises FilterError.
GeometryReader = Callable[[Any], shapely.Geometry]


def where_clause(expr: Any, queryables: dict[str, Queryable], *, geometry: GeometryReader,
                 points: PointColumns | None = None, dialect: str = "sqlite") -> ColumnElement:
    """The CQL2 JSON expression as a boolean SQLAlchemy expression over the queryables' columns.

    `geometry`: reads a geometry literal (in the filter's CRS) as CRS84; `points`: the position
    columns when the layer is a point layer (spatial functions need them); `dialect`: the database's,
    since SQLite's LIKE ignores case and CQL2's does not.
    """
    return _Translator(queryables, points, geometry, dialect).predicate(expr)


@dataclass(frozen=True)
class _Operand:
    expr: Any  # a SQLAlchemy expression (property) or a Python value (literal)
    type: str  # queryable type; "null" for NULL; "date" for a DATE literal
    is_literal: bool
    text: str  # how the filter wrote it, for messages
    casei_of: Any = None  # CASEI(x): x's expression (the column, or the literal string)


class _Translator:
    def __init__(self, queryables: dict[str, Queryable], points: PointColumns | None, geometry: GeometryReader,
                 dialect: str):
        self.queryables, self.points, self.geometry, self.dialect = queryables, points, geometry, dialect

    # -- predicates --------------------------------------------------------------------------------

    def predicate(self, node: Any) -> ColumnElement:
        if isinstance(node, bool):
            return true() if node else false()
        if not isinstance(node, dict) or "op" not in node:
            raise FilterError(f"{shown(node)} is not a condition; compare it with something, e.g. severity >= 3")
        op, args = str(node["op"]).lower(), node.get("args", [])
        if op in ("and", "or"):
            if not args:
                raise FilterError(f"{op.upper()} needs conditions to join")
            parts = [self.predicate(a) for a in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            self._arity(op, args, 1)
            return not_(self.predicate(args[0]))
        if op in _COMPARISONS:
            self._arity(op, args, 2)
            return self.compare(op, self.operand(args[0]), self.operand(args[1]))
        if op == "like":
            self._arity(op, args, 2)
            return self.like(self.operand(args[0]), self.operand(args[1]))
        if op == "in":
            self._arity(op, args, 2)
            return self.in_(self.operand(args[0]), args[1])
        if op == "between":
            self._arity(op, args, 3)
            value, low, high = (self.operand(a) for a in args)
            return and_(self.compare(">=", value, low), self.compare("<=", value, high))
        if op == "isnull":
            self._arity(op, args, 1)
            value = self.operand(args[0])
            return value.expr.is_(None) if not value.is_literal else (true() if value.expr is None else false())
        if op in ("s_intersects", "s_within", "s_disjoint"):
            self._arity(op, args, 2)
            inside = self.spatial(op, args)
            return not_(inside) if op == "s_disjoint" else inside
        raise FilterError(f"'{node['op']}' is not supported here; use comparisons (= <> < <= > >=), AND, OR, "
                          "NOT, LIKE, IN, BETWEEN, IS NULL, CASEI and S_INTERSECTS")

    @staticmethod
    def _arity(op: str, args: Sequence[Any], n: int) -> None:
        if len(args) != n:
            raise FilterError(f"{op.upper()} takes {n} argument(s), not {len(args)}")

    # -- operands ----------------------------------------------------------------------------------

    def operand(self, node: Any) -> _Operand:
        if isinstance(node, dict) and "property" in node:
            return self.property(str(node["property"]))
        if isinstance(node, dict) and str(node.get("op", "")).lower() == "casei":
            self._arity("casei", node.get("args", []), 1)
            inner = self.operand(node["args"][0])
            if inner.type != STRING:
                raise FilterError(f"CASEI takes a string, not {inner.text} ({inner.type})")
            return _Operand(inner.expr.lower() if inner.is_literal else func.lower(inner.expr), STRING,
                            inner.is_literal, f"CASEI({inner.text})", casei_of=inner.expr)
        if node is None:
            return _Operand(None, "null", True, "NULL")
        if isinstance(node, bool):
            return _Operand(node, BOOLEAN, True, str(node).upper())
        if isinstance(node, int):
            if not fits_int64(node):
                raise FilterError(f"{node} is beyond the 64-bit integers stored here; use a number from {INT64_RANGE}")
            return _Operand(node, NUMBER, True, repr(node))
        if isinstance(node, float):
            if not math.isfinite(node):
                raise FilterError(f"{node} is not a finite number")
            # 3.0 compares as 3; 1e23 stays a float, which no 64-bit integer column overflows on
            value = int(node) if node.is_integer() and fits_int64(int(node)) else node
            return _Operand(value, NUMBER, True, repr(value))
        if isinstance(node, str):
            return _Operand(node, STRING, True, repr(node))
        if isinstance(node, dict) and "timestamp" in node:
            return _Operand(_timestamp(node["timestamp"]), TIMESTAMP, True, f"TIMESTAMP('{node['timestamp']}')")
        if isinstance(node, dict) and "date" in node:
            try:
                return _Operand(date.fromisoformat(str(node["date"])), "date", True, f"DATE('{node['date']}')")
            except ValueError:
                raise FilterError(f"DATE('{node['date']}') is not a valid date (YYYY-MM-DD)") from None
        if isinstance(node, dict) and "op" in node:
            raise FilterError(f"'{node['op']}' is not supported as a value; use a property or a literal")
        raise FilterError(f"{shown(node)} cannot be compared here")

    def property(self, name: str) -> _Operand:
        q = self.queryables.get(name)
        if q is None:
            listed = sorted(n for n, v in self.queryables.items() if v.listed)
            raise FilterError(f"unknown property '{name}' in the filter; the queryables are {', '.join(listed)}")
        if q.type == GEOMETRY:
            return _Operand(None, GEOMETRY, False, name)
        return _Operand(q.column, q.type, False, name)

    # -- comparisons -------------------------------------------------------------------------------

    def compare(self, op: str, left: _Operand, right: _Operand) -> ColumnElement:
        if GEOMETRY in (left.type, right.type):
            raise FilterError("the geometry can only be tested with S_INTERSECTS, S_WITHIN or S_DISJOINT")
        if "null" in (left.type, right.type):
            raise FilterError(f"compare with NULL using IS NULL, not {op} (e.g. road_name IS NULL)")
        if "date" in (left.type, right.type):
            return self._compare_day(op, left, right)
        self._same_kind(op, left, right)
        if left.type == BOOLEAN and op not in ("=", "<>"):
            raise FilterError(f"booleans can only be tested with = or <>, not {op}")
        if op in ("=", "<>") and self.dialect == "sqlite" and (left.casei_of is not None or right.casei_of is not None):
            prop, value = (left, right) if not left.is_literal else (right, left)
            if not prop.is_literal and value.is_literal:  # SQLite's lower() folds ASCII only: match [Øø]
                same = self._casei_glob(prop, glob_escape(value.expr))
                return same if op == "=" else not_(same)
        lhs, rhs = self._bind(left, right), self._bind(right, left)
        return _COMPARISONS[op](lhs, rhs)

    @staticmethod
    def _casei_glob(prop: _Operand, glob: str) -> ColumnElement:
        column = prop.casei_of if prop.casei_of is not None else prop.expr
        return column.op("GLOB")(literal(casei_glob(glob)))

    def _same_kind(self, op: str, left: _Operand, right: _Operand) -> None:
        if _COMPARABLE.get(left.type) != _COMPARABLE.get(right.type):
            prop, other = (left, right) if not left.is_literal else (right, left)
            raise FilterError(f"{prop.text} is a {_kind(prop.type)} and cannot be compared ({op}) with "
                              f"{other.text}, a {_kind(other.type)}")

    @staticmethod
    def _bind(value: _Operand, other: _Operand) -> Any:
        """A literal as a bound parameter of the other side's column type (times are stored as text)."""
        if not value.is_literal:
            return value.expr
        if not other.is_literal and hasattr(other.expr, "type"):
            return literal(value.expr, type_=other.expr.type)
        return literal(value.expr)

    def _compare_day(self, op: str, left: _Operand, right: _Operand) -> ColumnElement:
        """A timestamp against a DATE: the whole UTC day, so `first_seen = DATE('2026-06-01')` is that day."""
        flipped = left.type == "date"
        prop, day = (right, left) if flipped else (left, right)
        if prop.type != TIMESTAMP or not day.is_literal:
            raise FilterError(f"{day.text} is a date and cannot be compared ({op}) with {prop.text}, a {_kind(prop.type)}")
        if flipped:
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        first, last = (_Operand(t, TIMESTAMP, True, day.text) for t in day_bounds(day.expr))
        within = and_(self.compare(">=", prop, first), self.compare("<=", prop, last))
        return {"=": within, "<>": not_(within), "<": self.compare("<", prop, first),
                "<=": self.compare("<=", prop, last), ">": self.compare(">", prop, last),
                ">=": self.compare(">=", prop, first)}[op]

    def like(self, value: _Operand, pattern: _Operand) -> ColumnElement:
        if value.type != STRING or value.is_literal:
            raise FilterError(f"LIKE needs a string property on its left, not {value.text}")
        if pattern.type != STRING or not pattern.is_literal:
            raise FilterError(f"LIKE needs a string pattern on its right, not {pattern.text}")
        text = pattern.expr
        if self.dialect == "sqlite":  # SQLite's LIKE ignores case; GLOB keeps it, as CQL2 requires
            if value.casei_of is not None or pattern.casei_of is not None:
                return self._casei_glob(value, like_to_glob(text.lower()))
            return value.expr.op("GLOB")(literal(like_to_glob(text)))
        return value.expr.like(literal(text), escape="\\")

    def in_(self, value: _Operand, items: Any) -> ColumnElement:
        if not isinstance(items, list) or not items:
            raise FilterError("IN needs a non-empty list of values, e.g. status IN ('open', 'scheduled')")
        if value.is_literal:
            raise FilterError(f"IN needs a property on its left, not {value.text}")
        literals = [self.operand(i) for i in items]
        for item in literals:
            if not item.is_literal:
                raise FilterError(f"IN takes a list of literal values, not {item.text}")
            if item.type == "date":
                raise FilterError("IN takes timestamps, not dates; use BETWEEN or >= and < for a day")
            self._same_kind("IN", value, item)
        return value.expr.in_([self._bind(i, value) for i in literals])

    # -- spatial -----------------------------------------------------------------------------------

    def spatial(self, op: str, args: Sequence[Any]) -> ColumnElement:
        props = [a for a in args if isinstance(a, dict) and "property" in a]
        if len(props) != 1:
            raise FilterError(f"{op.upper()} compares the geometry property with a geometry literal")
        name = str(props[0]["property"])
        if self.property(name).type != GEOMETRY:
            raise FilterError(f"{op.upper()} needs the geometry property, and '{name}' is not a geometry")
        if self.points is None:
            raise FilterError(f"{op.upper()} is not supported on this collection; use the bbox parameter")
        literal_node = args[1] if args[0] is props[0] else args[0]
        return point_in(self.points, self.geometry(literal_node))


_COMPARISONS = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _kind(type_: str) -> str:
    return {TIMESTAMP: "timestamp", NUMBER: "number", INTEGER: "number", "date": "date"}.get(type_, type_)


def shown(node: Any) -> str:
    """A CQL2 JSON node as a message quotes it: its repr, cut short."""
    text = repr(node)
    return text if len(text) <= 80 else text[:77] + "..."


def _timestamp(text: Any) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("z", "Z"))
    except ValueError:
        raise FilterError(f"TIMESTAMP('{text}') is not an RFC 3339 date-time, e.g. 2026-06-01T08:00:00Z") from None
    if value.tzinfo is None:
        raise FilterError(f"TIMESTAMP('{text}') has no time zone: add Z (UTC)")
    try:
        return utc(value)
    except ValueError as exc:
        raise FilterError(f"TIMESTAMP('{text}'): {exc}") from None


def point_in(points: PointColumns, geom: shapely.Geometry) -> ColumnElement:
    """Points (lon, lat columns) that intersect a CRS84 geometry, as SQL: boxes and points exactly,
    polygons by counting edge crossings (even-odd rule, holes included), each behind its envelope so
    that the lat/lon index does the first cut. Points exactly on a polygon's edge may fall either way."""
    parts, vertices = shapely.get_num_geometries(geom), shapely.get_num_coordinates(geom)
    if parts > MAX_PARTS or vertices > MAX_VERTICES + MAX_PARTS:  # each part may repeat its first vertex
        raise FilterError(f"the {geom.geom_type} literal has {parts} parts and {vertices} vertices; at most "
                          f"{MAX_PARTS} parts and {MAX_VERTICES} vertices are supported")
    if points.geom is not None:
        return _geometry_intersects(points.geom, geom)
    return _point_in(points, geom)


def _geometry_intersects(column: Any, geom: shapely.Geometry) -> ColumnElement:
    """PostGIS: the geometry column against the literal, on its GiST index; a box as `&&` (exact for
    points, edges included, like the lat/lon test), anything else as ST_Intersects. The same literals are
    accepted and refused as on SQLite."""
    _check_point_literal(geom)
    minx, miny, maxx, maxy = geom.bounds
    if geom.geom_type == "Polygon" and geom.equals(shapely.box(minx, miny, maxx, maxy)):
        return column.op("&&")(func.ST_MakeEnvelope(literal(minx), literal(miny), literal(maxx), literal(maxy), 4326))
    return func.ST_Intersects(column, func.ST_GeomFromText(literal(shapely.to_wkt(geom, rounding_precision=-1)), 4326))


def _check_point_literal(geom: shapely.Geometry) -> None:
    kind = geom.geom_type
    if kind in ("MultiPolygon", "MultiPoint", "GeometryCollection"):
        for part in shapely.get_parts(geom):
            _check_point_literal(part)
    elif kind not in ("Point", "Polygon"):
        raise FilterError(f"{kind} literals are not supported: a point defect never lies on a line; "
                          "use a BBOX, POINT or POLYGON")


def _point_in(points: PointColumns, geom: shapely.Geometry) -> ColumnElement:
    lon, lat = points.lon, points.lat
    kind = geom.geom_type
    if kind in ("MultiPolygon", "MultiPoint", "GeometryCollection"):
        return or_(*(_point_in(points, part) for part in shapely.get_parts(geom)))
    if kind == "Point":
        return and_(lon == literal(geom.x), lat == literal(geom.y))
    if kind != "Polygon":
        raise FilterError(f"{kind} literals are not supported: a point defect never lies on a line; "
                          "use a BBOX, POINT or POLYGON")
    minx, miny, maxx, maxy = geom.bounds
    envelope = and_(lon >= literal(minx), lon <= literal(maxx), lat >= literal(miny), lat <= literal(maxy))
    if geom.equals(shapely.box(minx, miny, maxx, maxy)):
        return envelope
    rings = [geom.exterior, *geom.interiors]
    edges = []
    for ring in rings:
        xy = np.asarray(ring.coords)
        for (x1, y1), (x2, y2) in zip(xy[:-1], xy[1:]):
            if y1 != y2:
                edges.append((float(x1), float(y1), float(x2), float(y2)))
    if len(edges) > MAX_VERTICES:
        raise FilterError(f"the polygon has {len(edges)} edges; at most {MAX_VERTICES} are supported")
    terms = [case((and_(lat >= literal(min(y1, y2)), lat < literal(max(y1, y2)),
                        lon < literal(x1) + (lat - literal(y1)) * literal((x2 - x1) / (y2 - y1))), 1), else_=0)
             for x1, y1, x2, y2 in edges]
    if not terms:
        return false()
    return and_(envelope, _balanced_sum(terms) % 2 == 1)


def _balanced_sum(terms: list[Any]) -> Any:
    """a + b + c + ... as a balanced tree, so that long sums stay shallow for the compiler and SQLite."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]
