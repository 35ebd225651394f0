"""OGC API Features resources, one route each: landing page, conformance, collections, items, item.

Every resource answers JSON (GeoJSON for features) or HTML, chosen by `f` or the Accept header, and
carries the links a client follows: self, alternate, and next/prev on item pages.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html import escape
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from roadscan.core.classes import CLASS_CODES
from roadscan.api.crs import CRS84, SUPPORTED, parse_crs
from roadscan.api.hosts import base_url
from roadscan.api.ogc import cql2
from roadscan.api.ogc import html as pages
from roadscan.api.ogc.collections import COLLECTIONS, DATETIME_PROPERTY, Collection, ItemsQuery
from roadscan.api.ogc.errors import ExceptionBody, bad_request, not_found
from roadscan.api.ogc.features import features, rfc3339
from roadscan.api.ogc.params import (
    HTML,
    output_format,
    parse_bbox,
    parse_datetime,
    refuse_unknown,
)
from roadscan.core.statuses import DEFECT_STATUSES
from roadscan.api.store.cql2_sql import GEOMETRY, STRING, TIMESTAMP
from roadscan.api.store.version import data_version

from roadscan.core.errors import ConfigError

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    # Part 3, Filtering (OGC 19-079r2), and CQL2 (OGC 21-065r2): QGIS (3.32+) sends a layer's filter to
    # the server only when these are declared.
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
]
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SCHEMA_JSON = "application/schema+json"
GEOJSON = "application/geo+json"
MAX_LIMIT = 10_000
# Patterns for the API definition (the parsers in `params` are the authority and explain refusals).
_NUM = r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"
BBOX_PATTERN = f"^{_NUM}(,{_NUM}){{3}}(,{_NUM},{_NUM})?$"
_INSTANT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[-+][0-9]{2}:[0-9]{2}))?"
DATETIME_PATTERN = f"^({_INSTANT}|({_INSTANT}|\\.\\.)?/({_INSTANT}|\\.\\.)?)$"
ITEMS_PARAMS = {"bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "f", "filter", "filter-lang", "filter-crs",
                DATETIME_PROPERTY}
ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ExceptionBody, "description": "bad query parameter"},
                                           404: {"model": ExceptionBody, "description": "no such resource"}}

router = APIRouter(responses=ERRORS)
JSON_OR_HTML = {200: {"content": {"application/json": {}, "text/html": {}}, "description": "JSON, or HTML"}}

# The enum tells clients (and API fuzzers) the collections; any other id is answered 404, as Part 1 asks.
CollectionId = Annotated[str, Path(description="a collection id (see /collections)",
                                   json_schema_extra={"enum": list(COLLECTIONS)})]
FormatParam = Annotated[Literal["json", "html"] | None, Query(description="json (GeoJSON for features) or html; "
                                                                  "overrides the Accept header")]


def _base(request: Request) -> str:
    return base_url(request)


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, **({"title": title} if title else {})}


def _self_links(request: Request, path: str, json_type: str = "application/json") -> list[dict[str, str]]:
    url, fmt = f"{_base(request)}{path}", output_format(request)
    json_link, html_link = _link(f"{url}?f=json", "self", json_type, "this document as JSON"), \
        _link(f"{url}?f=html", "self", "text/html", "this document as HTML")
    if fmt == HTML:
        json_link["rel"] = "alternate"
    else:
        html_link["rel"] = "alternate"
    return [json_link, html_link]


def _link_header(links: list[dict[str, str]]) -> dict[str, str]:
    """The document's links also as an RFC 8288 `Link` header, for clients that read links from headers
    (and a HEAD request); titles stay in the body since they may hold commas."""
    return {"Link": ", ".join(f'<{link["href"]}>; rel="{link["rel"]}"; type="{link["type"]}"' for link in links)}


def _respond(request: Request, body: dict[str, Any], title: str, html_body: str = "",
             media_type: str = "application/json", headers: dict[str, str] | None = None) -> Response:
    headers = {**_link_header(body.get("links", [])), **(headers or {})}
    if output_format(request) == HTML:
        return HTMLResponse(pages.page(title, body.get("links", []), html_body, body.get("description", "")),
                            headers=headers)
    return JSONResponse(body, media_type=media_type, headers=headers)


def _collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise not_found(f"no collection '{collection_id}'; the collections are "
                        f"{', '.join(COLLECTIONS)}") from None


def _crs(value: str | None, parameter: str):
    try:
        return parse_crs(value, parameter=parameter)
    except ConfigError as exc:
        raise bad_request(f"{exc.message}: {exc.hint}") from None


@router.get("/", summary="Landing page", responses=JSON_OR_HTML, tags=["Capabilities"])
def landing(request: Request, f: FormatParam = None) -> Response:
    refuse_unknown(request, {"f"})
    base = _base(request)
    links = _self_links(request, "/") + [
        _link(f"{base}/openapi.json", "service-desc", "application/vnd.oai.openapi+json;version=3.0",
              "the API definition (OpenAPI)"),
        _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
        _link(f"{base}/conformance", "conformance", "application/json", "conformance classes"),
        _link(f"{base}/conformance?f=html", "conformance", "text/html", "conformance classes"),
        _link(f"{base}/collections", "data", "application/json", "the collections"),
        _link(f"{base}/collections?f=html", "data", "text/html", "the collections"),
        _link(f"{base}/map", "alternate", "text/html", "the planner's map of defects and road condition"),
        _link(f"{base}/worklists", "related", "application/json", "crews' work lists"),
    ]
    body = {"title": "roadscan", "description": "Road defects found in vehicle footage, road segment "
            "condition and the surveys that found them, as OGC API Features.", "links": links}
    return _respond(request, body, "roadscan")


@router.get("/conformance", summary="Conformance classes", responses=JSON_OR_HTML, tags=["Capabilities"])
def conformance(request: Request, f: FormatParam = None) -> Response:
    refuse_unknown(request, {"f"})
    body = {"conformsTo": CONFORMANCE, "links": _self_links(request, "/conformance")}
    return _respond(request, body, "Conformance",
                    pages.table([{"class": c} for c in CONFORMANCE], ["class"]))


def _extents(request: Request) -> dict[str, dict[str, Any]]:
    """Every collection's extent by id, recomputed only when the store's data changed: over a million
    defects it is a scan (about 0.3 s) that every /collections request would otherwise repeat."""
    state = request.app.state
    version = data_version(state.store)
    cached = getattr(state, "extents", None)
    if cached is None or cached[0] != version:
        cached = state.extents = (version, {c.id: c.extent(state.store) for c in COLLECTIONS.values()})
    return cached[1]


def _describe(request: Request, collection: Collection, extent: dict[str, Any]) -> dict[str, Any]:
    url = f"{_base(request)}/collections/{collection.id}"
    return {
        "id": collection.id, "title": collection.title, "description": collection.description,
        "itemType": "feature",
        "extent": extent,
        **({"temporal": collection.temporal_metadata()} if collection.temporal is not None else {}),
        "crs": list(SUPPORTED), "storageCrs": CRS84,
        "links": [
            _link(url, "self", "application/json", collection.title),
            _link(f"{url}?f=html", "alternate", "text/html", collection.title),
            _link(f"{url}/items", "items", GEOJSON, f"{collection.title} as GeoJSON"),
            _link(f"{url}/items?f=html", "items", "text/html", f"{collection.title} as HTML"),
            _link(f"{url}/queryables", QUERYABLES_REL, SCHEMA_JSON, "the properties a filter may test"),
        ],
    }


@router.get("/collections", summary="The feature collections", responses=JSON_OR_HTML, tags=["Data"])
def collections(request: Request, f: FormatParam = None) -> Response:
    refuse_unknown(request, {"f"})
    extents = _extents(request)
    described = [_describe(request, c, extents[c.id]) for c in COLLECTIONS.values()]
    body = {"links": _self_links(request, "/collections"), "collections": described,
            "crs": list(SUPPORTED)}
    rows = [{"id": c["id"], "title": c["title"], "description": c["description"]} for c in described]
    links = {c["id"]: f"{_base(request)}/collections/{c['id']}?f=html" for c in described}
    return _respond(request, body, "Collections", pages.table(rows, ["id", "title", "description"], links))


@router.get("/collections/{collectionId}", summary="One collection", responses=JSON_OR_HTML, tags=["Data"])
def collection(request: Request, collectionId: CollectionId, f: FormatParam = None) -> Response:
    refuse_unknown(request, {"f"})
    coll = _collection(collectionId)
    body = _describe(request, coll, _extents(request)[coll.id])
    body["links"] = _self_links(request, f"/collections/{collectionId}") + body["links"][2:]
    items = f"{_base(request)}/collections/{collectionId}/items?f=html"
    filters = "".join(f"<li><code>{k}</code>: {v}</li>" for k, v in coll.filters.items())
    queryables_url = f"{_base(request)}/collections/{collectionId}/queryables?f=html"
    return _respond(request, body, body["title"],
                    f'<p><a href="{items}">Browse the features</a>; filter them with <code>filter</code> '
                    f'(CQL2 text) on the <a href="{queryables_url}">queryables</a></p>'
                    + (f"<p>Filters (query parameters):</p><ul>{filters}</ul>" if filters else "")
                    + (f"<p>Time: {escape(body['temporal']['description'])}.</p>" if "temporal" in body else ""))


@router.get("/collections/{collectionId}/queryables", summary="The properties a filter may test",
            tags=["Data"], responses={200: {"content": {SCHEMA_JSON: {}, "text/html": {}},
                                            "description": "a JSON Schema of the queryables"}})
def queryables(request: Request, collectionId: CollectionId, f: FormatParam = None) -> Response:
    refuse_unknown(request, {"f"})
    coll = _collection(collectionId)
    path = f"/collections/{collectionId}/queryables"
    body = coll.queryables_schema(f"{_base(request)}{path}")
    if output_format(request) != HTML:
        return JSONResponse(body, media_type=SCHEMA_JSON)
    rows = [{"property": name, "type": p.get("format") if p.get("format", "").startswith("geometry") else
             p.get("type", "") + (f" ({p['format']})" if "format" in p else ""),
             "description": p.get("description", ""), "values": ", ".join(p.get("enum", []))}
            for name, p in body["properties"].items()]
    return HTMLResponse(pages.page(f"{coll.title}: queryables", _self_links(request, path, SCHEMA_JSON),
                                   "<p>Properties that the <code>filter</code> parameter (CQL2 text, e.g. "
                                   "<code>severity &gt;= 4 AND status = 'open'</code>) or a query parameter "
                                   "of the same name may test.</p>"
                                   + pages.table(rows, ["property", "type", "description", "values"])))


def _list_pattern(values) -> str:
    """A regular expression for a comma-separated list of these values, for the API definition."""
    one = "(" + "|".join(re.escape(v) for v in values) + ")"
    return f"^{one}(,{one})*$"


def _queryable_parameters() -> list[dict[str, Any]]:
    """The collections' queryables as the query parameters they also are (Part 3, queryables-query-parameters),
    for the API definition: GDAL's OAPIF driver (3.6 to 3.12) sends a layer's filter to the server only on
    fields it finds among the items' parameters there, and as a filter only when filter-lang lists cql-text."""
    uses: dict[str, list[tuple[str, Any]]] = {}
    for coll in COLLECTIONS.values():
        for name, q in coll.queryables.items():
            if q.type != GEOMETRY and q.listed and name not in ITEMS_PARAMS and name not in coll.filters:
                uses.setdefault(name, []).append((coll.id, q))
    params = []
    for name, found in sorted(uses.items()):
        kinds = {q.type for _, q in found}
        kind = kinds.pop() if len(kinds) == 1 else STRING
        schema: dict[str, Any] = {"type": "string", "format": "date-time"} if kind == TIMESTAMP else {"type": kind}
        enums = [q.enum for _, q in found if q.enum]
        if enums and len(enums) == len(found):
            schema["enum"] = sorted({v for e in enums for v in e})
        params.append({"name": name, "in": "query", "required": False, "schema": schema,
                       "description": f"features whose {name} equals this ({', '.join(c for c, _ in found)}); "
                                      "a queryable (see the collection's queryables)"})
    return params


def _time_properties() -> list[str]:
    return sorted({n for c in COLLECTIONS.values() for n in c.time_properties})


def _page_url(request: Request, path: str, **changes: Any) -> str:
    params = dict(request.query_params)
    params.update({k: str(v) for k, v in changes.items()})
    return f"{_base(request)}{path}?{urlencode(params)}"


@router.get("/collections/{collectionId}/items", summary="Features of a collection", tags=["Data"],
            response_class=JSONResponse, openapi_extra={"parameters": _queryable_parameters()},
            responses={200: {"content": {GEOJSON: {}, "text/html": {}}, "description": "a GeoJSON FeatureCollection"}})
def items(request: Request, collectionId: CollectionId,
          bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs (default CRS84 lon,lat); "
                                                  "minx > maxx in CRS84 crosses the antimeridian",
                                            json_schema_extra={"pattern": BBOX_PATTERN})] = None,
          bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS URI of bbox",
                                                json_schema_extra={"enum": list(SUPPORTED)})] = None,
          crs: Annotated[str | None, Query(description="CRS URI of the geometries returned",
                                           json_schema_extra={"enum": list(SUPPORTED)})] = None,
          datetime_: Annotated[str | None, Query(alias="datetime", description="RFC 3339 instant or interval "
                                                 "(a/b, ../b, a/.., /b, a/; a start in year 0000 is open): "
                                                 "features whose time span meets it; which properties that is, "
                                                 "each collection says (temporal; x-ogc-role in its queryables)",
                                                 json_schema_extra={"pattern": DATETIME_PATTERN})] = None,
          datetime_property: Annotated[str | None, Query(alias=DATETIME_PROPERTY, description="the time property "
                                                         "datetime tests instead of the collection's own (e.g. "
                                                         "updated_at); QGIS and GDAL send a layer URL's query with "
                                                         "every request, so it can ride in the layer URL",
                                                         json_schema_extra={"enum": _time_properties()})] = None,
          limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="features per page")] = 100,
          offset: Annotated[int, Query(ge=0, description="features to skip (the next link sets it)")] = 0,
          class_: Annotated[str | None, Query(alias="class", description="defects: class codes, comma-separated",
                                              json_schema_extra={"pattern": _list_pattern(CLASS_CODES)})] = None,
          status: Annotated[str | None, Query(description="defects: statuses, comma-separated",
                                              json_schema_extra={"pattern": _list_pattern(DEFECT_STATUSES)})] = None,
          min_severity: Annotated[int | None, Query(ge=1, le=5, description="defects: at least this severity")] = None,
          road: Annotated[str | None, Query(description="defects: road name contains this")] = None,
          filter_: Annotated[str | None, Query(alias="filter", description="a CQL2 filter on the queryables "
                                               "(see /collections/{collectionId}/queryables), e.g. "
                                               "severity >= 4 AND status = 'open'")] = None,
          filter_lang: Annotated[Literal["cql2-text", "cql2-json", "cql-text"] | None,
                                 Query(alias="filter-lang", description="language of filter (default cql2-text; "
                                       "cql-text: the pre-standard CQL text GDAL sends, with ILIKE, and times "
                                       "compared as strings)")] = None,
          filter_crs: Annotated[str | None, Query(alias="filter-crs", description="CRS URI of geometry literals "
                                                  "in filter (default CRS84)",
                                                  json_schema_extra={"enum": list(SUPPORTED)})] = None,
          f: FormatParam = None) -> Response:
    coll = _collection(collectionId)
    refuse_unknown(request, ITEMS_PARAMS | coll.parameters)
    out_crs, box_crs = _crs(crs, "crs"), _crs(bbox_crs, "bbox-crs")
    query = ItemsQuery(limit=limit, offset=offset, datetime_property=datetime_property,
                       params={k: v for k, v in request.query_params.items() if k in coll.parameters})
    query.bbox = parse_bbox(bbox, box_crs) if bbox is not None else None
    query.interval = parse_datetime(datetime_) if datetime_ is not None else None
    if filter_ is not None:
        query.filter_crs = _crs(filter_crs, "filter-crs")
        try:
            query.filter = cql2.parse(filter_, filter_lang, request.app.state.settings.limits)
        except cql2.FilterError as exc:
            raise bad_request(str(exc)) from None
    elif filter_crs is not None or filter_lang is not None:
        raise bad_request("filter-lang and filter-crs describe a filter; give the filter too")

    n_matched, page = coll.items(request.app.state.store, query)
    feats = features(page, coll, out_crs)
    path = f"/collections/{collectionId}/items"
    fmt = output_format(request)
    links = _self_links(request, path, GEOJSON)
    for link in links:  # keep the query (bbox, filters, paging) in self and alternate
        link["href"] = _page_url(request, path, f="html" if link["type"] == "text/html" else "json")
    page_type, page_f = ("text/html", "html") if fmt == HTML else (GEOJSON, "json")
    if offset + len(page) < n_matched:
        links.append(_link(_page_url(request, path, offset=offset + limit, limit=limit, f=page_f), "next",
                           page_type, "next page"))
    if offset > 0:
        links.append(_link(_page_url(request, path, offset=max(offset - limit, 0), limit=limit, f=page_f), "prev",
                           page_type, "previous page"))
    links.append(_link(f"{_base(request)}/collections/{collectionId}", "collection", "application/json", coll.title))
    body = {"type": "FeatureCollection", "features": feats, "links": links,
            "timeStamp": rfc3339(datetime.now(timezone.utc)),
            "numberMatched": n_matched, "numberReturned": len(feats)}
    headers = {"Content-Crs": f"<{out_crs.uri}>", **_link_header(links)}
    if fmt != HTML:
        return JSONResponse(body, media_type=GEOJSON, headers=headers)
    return HTMLResponse(pages.page(f"{coll.title}: {n_matched} features", links,
                                  f"<p>Showing {offset + 1 if feats else 0} to {offset + len(feats)} of "
                                  f"{n_matched}; coordinates in {escape(out_crs.uri)}.</p>"
                                  + _features_table(request, collectionId, feats)), headers=headers)


def _features_table(request: Request, collection_id: str, feats: list[dict[str, Any]]) -> str:
    rows, columns = [], ["id"]
    for feat in feats:
        row = {"id": feat["id"], **feat["properties"], "geometry": _short_geometry(feat["geometry"])}
        rows.append(row)
        columns += [c for c in row if c not in columns]
    columns = [c for c in columns if c != "geometry"] + ["geometry"]
    links = {str(feat["id"]): f"{_base(request)}/collections/{collection_id}/items/{feat['id']}?f=html"
             for feat in feats}
    return pages.table(rows, columns, links)


def _short_geometry(geometry: dict[str, Any] | None) -> str:
    if geometry is None:
        return ""
    coords = geometry["coordinates"]
    if geometry["type"] == "Point":
        return f"POINT ({coords[0]} {coords[1]})"
    return f"{geometry['type'].upper()} ({len(coords)} vertices)"


@router.get("/collections/{collectionId}/items/{featureId}", summary="One feature", tags=["Data"],
            response_class=JSONResponse,
            responses={200: {"content": {GEOJSON: {}, "text/html": {}}, "description": "a GeoJSON Feature"}})
def item(request: Request, collectionId: CollectionId, featureId: str,
         crs: Annotated[str | None, Query(description="CRS URI of the geometry returned",
                                          json_schema_extra={"enum": list(SUPPORTED)})] = None,
         f: FormatParam = None) -> Response:
    coll = _collection(collectionId)
    refuse_unknown(request, {"crs", "f"})
    out_crs = _crs(crs, "crs")
    key: Any = featureId
    if coll.id_is_int:
        try:
            key = int(featureId)
            if not -2**63 <= key < 2**63:
                raise ValueError
        except ValueError:
            raise not_found(f"no feature '{featureId}' in {collectionId}: its ids are whole numbers") from None
    match = coll.one(request.app.state.store, key)
    if match.empty:
        raise not_found(f"no feature '{featureId}' in {collectionId}")
    feat = features(match, coll, out_crs)[0]
    path = f"/collections/{collectionId}/items/{featureId}"
    feat["links"] = _self_links(request, path, GEOJSON) + [
        _link(f"{_base(request)}/collections/{collectionId}", "collection", "application/json", coll.title)]
    for link in feat["links"][:2]:
        link["href"] = _page_url(request, path, f="html" if link["type"] == "text/html" else "json")
    headers = {"Content-Crs": f"<{out_crs.uri}>", **_link_header(feat["links"])}
    if output_format(request) != HTML:
        return JSONResponse(feat, media_type=GEOJSON, headers=headers)
    rows = [{"property": k, "value": v} for k, v in feat["properties"].items()]
    rows.append({"property": "geometry", "value": feat["geometry"]})
    return HTMLResponse(pages.page(f"{coll.title}: {featureId}", feat["links"],
                                  pages.table(rows, ["property", "value"])), headers=headers)
