"""Query parameters that OGC API Features defines as strings with their own grammar: bbox, datetime, f.

Each parser turns text into a value or raises `bad_request` with a message that quotes the input and
says what a correct one looks like.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

import shapely
from fastapi import Path as PathParam, Request
from roadscan.api.crs import ServedCRS, axis_is_lat_first, bbox_to_crs84, parse_crs
from roadscan.api.ogc.errors import OGCError, bad_request
from roadscan.api.store.values import INT64_MAX, day_bounds, utc

from roadscan.core.errors import ConfigError

JSON, HTML = "json", "html"

# Ids in paths are the store's 64-bit integer keys; a larger number is refused (400) rather than
# overflowing the database driver.
RowId = Annotated[int, PathParam(ge=1, le=INT64_MAX)]


def parse_bbox(text: str, crs: ServedCRS) -> shapely.Geometry:
    """The bbox parameter (in `crs`, its axis order) as a CRS84 polygon to intersect with.

    Four numbers, or six with heights (ignored: the store is 2D). A CRS84 box whose west edge is east
    of its east edge crosses the antimeridian and becomes two boxes.
    """
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        raise bad_request(f"bbox '{text}' must be 4 (or 6) comma-separated numbers: "
                          "minx,miny,maxx,maxy in the axis order of bbox-crs (default CRS84: lon,lat)")
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    return bbox_geometry(values, crs, f"bbox '{text}'")


def bbox_geometry(values: list[float], crs: ServedCRS | None, what: str) -> shapely.Geometry:
    """Four numbers in `crs` (its axis order; None: CRS84) as a CRS84 box, or two across the antimeridian."""
    crs = crs or parse_crs(None)
    if not all(math.isfinite(v) for v in values):
        raise bad_request(f"{what} must hold finite numbers")
    a1, b1, a2, b2 = values
    if axis_is_lat_first(crs):  # EPSG:4326: min lat, min lon, max lat, max lon
        a1, b1, a2, b2 = b1, a1, b2, a2
    geographic = crs.is_crs84 or axis_is_lat_first(crs)
    if geographic:
        if not (-180 <= a1 <= 180 and -180 <= a2 <= 180 and -90 <= b1 <= 90 and -90 <= b2 <= 90):
            raise bad_request(f"{what} is outside longitude -180..180, latitude -90..90")
        if b1 > b2:
            raise bad_request(f"{what}: the minimum latitude is north of the maximum")
        if a1 > a2:  # crosses the antimeridian (OGC 17-069r4, 7.15.3)
            return shapely.MultiPolygon([shapely.box(a1, b1, 180, b2), shapely.box(-180, b1, a2, b2)])
        return shapely.box(a1, b1, a2, b2)
    if a1 > a2 or b1 > b2:
        raise bad_request(f"{what}: each minimum must not exceed its maximum in {crs.uri}")
    try:
        return shapely.box(*bbox_to_crs84((a1, b1, a2, b2), crs))
    except ConfigError as exc:
        raise bad_request(exc.message) from None


@dataclass(frozen=True)
class Interval:
    """A closed time interval; None at either end means open ('..')."""

    start: datetime | None
    end: datetime | None


# QGIS (3.22 at least) sends an open start as year 0000, which RFC 3339 allows and Python's datetime
# cannot hold: the beginning of time, that is, no start.
OPEN_START_YEAR = "0000-"


def _instant(text: str, *, end: bool) -> datetime | None:
    if text in ("", ".."):  # both are an open end in OGC 17-069r4 (7.15.4): "../b", "/b", "a/..", "a/"
        return None
    if not end and text.startswith(OPEN_START_YEAR):
        return None
    try:
        if "T" not in text.upper() and len(text) == 10:  # a full date: the whole (UTC) day
            first, last = day_bounds(date.fromisoformat(text))
            return last if end else first
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise bad_request(f"datetime '{text}' is not a valid RFC 3339 date or date-time, "
                          "e.g. 2026-06-01 or 2026-06-01T08:00:00Z") from None
    if value.tzinfo is None:
        raise bad_request(f"datetime '{text}' has no time zone: add Z (UTC) or an offset such as +02:00")
    try:
        return utc(value)
    except ValueError as exc:
        raise bad_request(f"datetime '{text}': {exc}") from None


def parse_datetime(text: str) -> Interval:
    """An RFC 3339 instant, date or interval ('a/b', '../b', 'a/..', '/b', 'a/'; a start in year 0000 is open)."""
    if "/" in text:
        parts = text.split("/")
        if len(parts) != 2 or parts == ["..", ".."] or parts == ["", ""]:
            raise bad_request(f"datetime '{text}' must be an instant or an interval start/end "
                              "with at most one end open ('..')")
        interval = Interval(_instant(parts[0], end=False), _instant(parts[1], end=True))
        if interval.start and interval.end and interval.start > interval.end:
            raise bad_request(f"datetime '{text}': the interval ends before it starts")
        return interval
    return Interval(_instant(text, end=False), _instant(text, end=True))


def output_format(request: Request) -> str:
    """JSON or HTML: the f parameter if given, else the Accept header (HTML only when preferred)."""
    f = request.query_params.get("f")
    if f is not None:
        if f in (JSON, HTML):
            return f
        raise bad_request(f"f '{f}' is not a format this server offers: use f=json or f=html")
    best, best_q = JSON, -1.0
    for item in request.headers.get("accept", "").split(","):
        kind, *params = [p.strip() for p in item.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        fmt = HTML if kind in ("text/html", "application/xhtml+xml") else \
            JSON if kind in ("application/json", "application/geo+json", "application/*", "*/*") else None
        if fmt and q > 0 and q > best_q:  # q=0: "not this one"
            best, best_q = fmt, q
    return best


# Parameters of a whole layer URL: QGIS and GDAL send the query of the URL a user opened to every
# resource (landing page, collections, items), so every resource takes them; items use them.
LAYER_URL_PARAMS = {"datetime-property"}


def refuse_unknown(request: Request, allowed: set[str]) -> None:
    """400 for a query parameter this resource does not know (OGC 17-069r4 permits it, 7.15.2)."""
    unknown = sorted(set(request.query_params) - allowed - LAYER_URL_PARAMS)
    if unknown:
        raise OGCError(400, "InvalidParameterValue",
                       f"unknown query parameter {', '.join(unknown)}; this resource takes "
                       + ", ".join(sorted(allowed)))
