"""CQL2 filters (OGC API Features Part 3, OGC 21-065 CQL2) as the API reads them.

The `cql2` package (Rust, maintained by the CQL2 community) parses CQL2 text or JSON; what it hands
back is CQL2 JSON, which the store turns into SQL over a collection's queryables
(api/store/cql2_sql.py). Geometry literals are in the filter's CRS (filter-crs, default CRS84);
`geometry_literal` reads one as a CRS84 shape for the store. A malformed filter or geometry is a
`FilterError`, which the API answers with a 400. Its size and nesting are checked before the parser
sees it, and the parser runs in a child process (api/ogc/cql2_guard.py): a deep filter once crashed
the whole server.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from roadscan.api.crs import ServedCRS
from roadscan.api.limits import Limits
from roadscan.api.ogc.cql2_guard import PARSERS, check_operations, check_text
from roadscan.api.ogc.errors import OGCError
from roadscan.api.ogc.params import bbox_geometry
from roadscan.api.store.cql2_sql import FilterError, shown

TEXT, JSON_LANG = "cql2-text", "cql2-json"
# The pre-standard CQL text of OGC API Features Part 3 drafts, which GDAL (3.6 to 3.12 at least) sends
# when the API definition lists it under filter-lang: CQL2 text but for `a ILIKE 'x'`.
OLD_TEXT = "cql-text"
FILTER_LANGS = (TEXT, JSON_LANG, OLD_TEXT)
# `name ILIKE 'pattern'` as GDAL writes it (a column, then a quoted string with '' for a quote)
_ILIKE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s+ILIKE\s+('(?:[^']|'')*')", re.IGNORECASE)
DEFAULT_LIMITS = Limits()


def parse(text: str, lang: str | None = None, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """A filter in CQL2 text (default) or CQL2 JSON, as CQL2 JSON; within the limits (cql2_guard)."""
    lang = lang or TEXT
    if lang not in FILTER_LANGS:
        raise FilterError(f"filter-lang '{lang}' is not offered; use {' or '.join(FILTER_LANGS)}")
    check_text(text, lang == JSON_LANG, limits)
    if lang == OLD_TEXT:
        text, lang = from_cql_text(text), TEXT
    parsed, expr = PARSERS.parse(text, lang == JSON_LANG, limits.max_parse_seconds)
    if not parsed:
        raise FilterError(f"filter is not valid {lang}: {expr}")
    check_operations(expr, limits)
    return expr


def from_cql_text(text: str) -> str:
    """Pre-standard CQL text as CQL2 text: `a ILIKE 'x'` becomes `CASEI(a) LIKE CASEI('x')`; an ILIKE
    inside a string literal is text and stays."""
    parts, pos = [], 0
    for m in _ILIKE.finditer(text):
        if text[:m.start()].count("'") % 2:  # inside a string literal ('' pairs keep the count even)
            continue
        parts.append(text[pos:m.start()] + f"CASEI({m.group(1)}) LIKE CASEI({m.group(2)})")
        pos = m.end()
    return "".join(parts) + text[pos:]


# -- geometry literals ---------------------------------------------------------------------------------


@cache
def _to_crs84(source: str) -> Transformer:
    return Transformer.from_crs(source, "OGC:CRS84", always_xy=False)


def geometry_literal(node: Any, crs: ServedCRS | None = None) -> shapely.Geometry:
    """A CQL2 geometry literal (GeoJSON or {"bbox": [...]}) in CRS84 lon/lat."""
    if isinstance(node, dict) and "bbox" in node:
        values = node["bbox"]
        if not isinstance(values, list) or len(values) not in (4, 6):
            raise FilterError("BBOX takes 4 (or 6) numbers: minx, miny, maxx, maxy")
        if len(values) == 6:
            values = [values[0], values[1], values[3], values[4]]
        try:
            return bbox_geometry([float(v) for v in values], crs, f"BBOX({','.join(str(v) for v in values)})")
        except OGCError as exc:
            raise FilterError(exc.description) from None
    if not isinstance(node, dict) or "type" not in node:
        raise FilterError(f"{shown(node)} is not a geometry; use BBOX(...), POINT(...) or POLYGON(...)")
    try:
        geom = shapely.geometry.shape(node)
    except Exception as exc:  # noqa: BLE001 -- shapely raises several types for bad GeoJSON
        raise FilterError(f"the {node.get('type')} literal is not a valid geometry ({exc})") from None
    if crs is not None and not crs.is_crs84:
        transformer = _to_crs84(crs.pyproj_name)

        def project(xy: np.ndarray) -> np.ndarray:
            a, b = transformer.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([a, b])

        geom = shapely.transform(geom, project)
    if geom.is_empty or not np.isfinite(shapely.get_coordinates(geom)).all():
        raise FilterError(f"the {node['type']} literal lies outside the area where "
                          f"{crs.uri if crs else 'CRS84'} is defined, or is empty")
    return geom
