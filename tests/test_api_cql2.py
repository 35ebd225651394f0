"""OGC API Features Part 3 (Filtering) with CQL2 text over HTTP: the real server and a real client.

Every expected count is computed from the store itself (the sample survey's defects), so the tests
say "the filter selects exactly the defects the same condition selects in Python".
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pyogrio
import pytest
import shapely
from _live_api import serve_in_thread
from _postgres import both_backends
from pyproj import Transformer
from roadscan.api.app import create_app
from roadscan.api.exports import defects_layer
from roadscan.api.store.database import open_store

PART3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"


@pytest.fixture(scope="module")
def stored(api):
    with open_store(api.db) as store:
        layer = defects_layer(store)
    return list(layer.itertuples())


def items(client, **params):
    r = client.get("/collections/defects/items", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return r.json()


def ids(body) -> set[int]:
    return {f["id"] for f in body["features"]}


def _z(t) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_conformance_declares_filtering_and_cql2_text(client):
    classes = set(client.get("/conformance").json()["conformsTo"])
    assert {PART3 + c for c in ("filter", "features-filter", "queryables", "queryables-query-parameters")} <= classes
    assert {CQL2 + c for c in ("cql2-text", "basic-cql2", "advanced-comparison-operators")} <= classes


def test_queryables_are_a_json_schema_linked_from_the_collection(client, api):
    coll = client.get("/collections/defects").json()
    link = next(x for x in coll["links"] if x["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/queryables")
    r = httpx.get(link["href"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    assert doc["$id"] == f"{api.url}/collections/defects/queryables"
    assert doc["$schema"].startswith("https://json-schema.org/") and doc["type"] == "object"
    props = doc["properties"]
    assert props["severity"]["type"] == "integer" and props["priority"]["type"] == "number"
    assert props["road_name"]["type"] == "string" and props["on_network"]["type"] == "boolean"
    assert props["first_seen"] == {**props["first_seen"], "type": "string", "format": "date-time"}
    assert set(props["code"]["enum"]) == {"D00", "D10", "D20", "D40", "Repair"}
    assert "open" in props["status"]["enum"]
    assert props["geometry"]["format"] == "geometry-point"
    for collection in ("segment_condition", "surveys"):
        other = client.get(f"/collections/{collection}/queryables").json()
        assert other["type"] == "object" and other["properties"] and "geometry" not in other["properties"]
    assert client.get("/collections/defects/queryables", params={"f": "html"}).text.startswith("<!DOCTYPE html>")
    assert client.get("/collections/potholes/queryables").status_code == 404


FILTERS = [
    ("severity >= 3", lambda d: d.severity >= 3),
    ("severity = 4 OR code = 'D40'", lambda d: d.severity == 4 or d.code == "D40"),
    ("code <> 'D40' AND NOT (severity < 2)", lambda d: d.code != "D40" and not d.severity < 2),
    ("\"class\" IN ('D00', 'D20')", lambda d: d.code in ("D00", "D20")),
    ("status NOT IN ('fixed', 'dismissed')", lambda d: d.status not in ("fixed", "dismissed")),
    ("n_obs BETWEEN 2 AND 4", lambda d: 2 <= d.n_obs <= 4),
    ("priority > 0 AND priority < 1000", lambda d: 0 < d.priority < 1000),
    ("road_name IS NULL", lambda d: d.road_name is None),
    ("road_name IS NOT NULL", lambda d: d.road_name is not None),
    ("on_network = TRUE", lambda d: bool(d.on_network)),
    ("severity = 3.0", lambda d: d.severity == 3),
]


@both_backends
@pytest.mark.parametrize("text, keep", FILTERS, ids=[f[0] for f in FILTERS])
def test_cql2_filters_select_what_the_store_holds(client, stored, text, keep):
    expected = {int(d.id) for d in stored if keep(d)}
    body = items(client, filter=text)
    assert body["numberMatched"] == len(expected)
    assert ids(body) == expected


def test_at_least_some_filters_split_the_sample(stored):
    """The sample must make the filters above mean something: not all, not nothing."""
    splits = [sum(keep(d) for d in stored) for _, keep in FILTERS[:3]]
    assert all(0 < n < len(stored) for n in splits), splits


@both_backends
def test_like_is_case_sensitive_and_casei_is_not(client, stored):
    road = next(d.road_name for d in stored if d.road_name)
    same = {int(d.id) for d in stored if d.road_name == road}
    assert ids(items(client, filter=f"road_name LIKE '{road[:4]}%'")) == same
    assert items(client, filter=f"road_name LIKE '{road[:4].lower()}%'")["numberMatched"] == 0
    assert ids(items(client, filter=f"CASEI(road_name) LIKE CASEI('{road[:4].upper()}%')")) == same
    assert ids(items(client, filter=f"road_name LIKE '_{road[1:]}'")) == same
    assert items(client, filter="road_name LIKE '100\\%'")["numberMatched"] == 0


@both_backends
def test_timestamps_and_dates(client, stored):
    first = min(d.first_seen for d in stored)
    later = {int(d.id) for d in stored if d.first_seen > first}
    assert ids(items(client, filter=f"first_seen > TIMESTAMP('{_z(first)}')")) == later
    assert items(client, filter=f"last_seen < TIMESTAMP('{_z(first - timedelta(seconds=1))}')")["numberMatched"] == 0
    day = first.date().isoformat()
    on_day = {int(d.id) for d in stored if d.first_seen.date() == first.date()}
    assert ids(items(client, filter=f"first_seen = DATE('{day}')")) == on_day
    assert items(client, filter=f"first_seen < DATE('{day}')")["numberMatched"] == 0


@both_backends
def test_spatial_filters_on_points(client, stored):
    lons, lats = [d.geometry.x for d in stored], [d.geometry.y for d in stored]
    mid = sorted(lats)[len(lats) // 2]
    south = {int(d.id) for d in stored if d.geometry.y <= mid}
    box = f"BBOX({min(lons) - 1e-4},{min(lats) - 1e-4},{max(lons) + 1e-4},{mid})"
    assert ids(items(client, filter=f"S_INTERSECTS(geometry, {box})")) == south
    # a triangle: the polygon test is exact, not its envelope
    tri = shapely.Polygon([(min(lons) - 1e-3, min(lats) - 1e-4), (max(lons) + 1e-3, min(lats) - 1e-4),
                           (min(lons) - 1e-3, max(lats) + 1e-4)])
    inside = {int(d.id) for d in stored if tri.contains(d.geometry)}
    assert 0 < len(inside) < len(stored)
    assert ids(items(client, filter=f"S_INTERSECTS(geometry, {tri.wkt})")) == inside
    assert ids(items(client, filter=f"S_DISJOINT(geometry, {tri.wkt})")) == {int(d.id) for d in stored} - inside
    # the same triangle given in ETRS89 / UTM 32N with filter-crs
    to_utm = Transformer.from_crs("OGC:CRS84", "EPSG:25832", always_xy=True)
    utm = shapely.transform(tri, lambda xy: __import__("numpy").column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    body = items(client, filter=f"S_INTERSECTS(geometry, {utm.wkt})",
                 **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/25832"})
    assert ids(body) == inside


@both_backends
def test_filter_combines_with_bbox_paging_and_the_other_parameters(client, stored):
    open_ = [d for d in stored if d.severity >= 2]
    body = client.get("/collections/defects/items", params={"filter": "severity >= 2", "limit": 2}).json()
    assert body["numberMatched"] == len(open_) and body["numberReturned"] == min(2, len(open_))
    seen = ids(body)
    while nxt := next((x["href"] for x in body["links"] if x["rel"] == "next"), None):
        assert "filter=" in nxt
        body = httpx.get(nxt).json()
        seen |= ids(body)
    assert seen == {int(d.id) for d in open_}
    top = max(d.severity for d in stored)
    both = items(client, filter="severity >= 2", min_severity=top)
    assert ids(both) == {int(d.id) for d in stored if d.severity == top}
    html = client.get("/collections/defects/items", params={"filter": "severity >= 2", "f": "html"})
    assert html.status_code == 200 and "<table>" in html.text


@both_backends
def test_cql2_json_is_accepted_too(client, stored):
    text = '{"op": ">=", "args": [{"property": "severity"}, 3]}'
    body = items(client, filter=text, **{"filter-lang": "cql2-json"})
    assert ids(body) == {int(d.id) for d in stored if d.severity >= 3}


@both_backends
def test_queryables_as_query_parameters(client, stored):
    sev = stored[0].severity
    assert ids(items(client, severity=sev)) == {int(d.id) for d in stored if d.severity == sev}
    assert items(client, on_network="true")["numberMatched"] == sum(bool(d.on_network) for d in stored)
    assert items(client, code="D40")["numberMatched"] == sum(d.code == "D40" for d in stored)


@both_backends
def test_segment_condition_and_surveys_filter_on_their_properties(client):
    cond = client.get("/collections/segment_condition/items").json()
    rated = [f for f in cond["features"] if f["properties"]["condition"] is not None]
    body = client.get("/collections/segment_condition/items", params={"filter": "condition IS NOT NULL"}).json()
    assert body["numberMatched"] == len(rated)
    surveys = client.get("/collections/surveys/items", params={"filter": "detections >= 0 AND distance_m > 0"}).json()
    assert surveys["numberMatched"] == 1


@pytest.mark.parametrize("params, phrase", [
    ({"filter": "severity >="}, "not valid cql2-text"),
    ({"filter": "severity >= 3 AND"}, "not valid cql2-text"),
    ({"filter": "colour = 'red'"}, "unknown property 'colour'"),
    ({"filter": "severity = 'high'"}, "severity is a number"),
    ({"filter": "road_name > 3"}, "road_name is a string"),
    ({"filter": "first_seen > 3"}, "timestamp"),
    ({"filter": "status IN ('open', 1)"}, "status is a string"),
    ({"filter": "road_name = NULL"}, "IS NULL"),
    ({"filter": "severity LIKE '3%'"}, "LIKE"),
    ({"filter": "on_network > TRUE"}, "booleans"),
    ({"filter": "severity + 1 > 2"}, "not supported"),
    ({"filter": "first_seen > TIMESTAMP('2026-13-01T00:00:00Z')"}, "RFC 3339"),
    ({"filter": "S_INTERSECTS(geometry, LINESTRING(0 0, 1 1))"}, "LineString"),
    ({"filter": "S_INTERSECTS(geometry, BBOX(0, 10, 1, 5))"}, "latitude"),
    ({"filter": "severity = 3", "filter-lang": "sql"}, "filter-lang"),
    ({"filter": "{not json", "filter-lang": "cql2-json"}, "cql2-json"),
    ({"filter": "severity = 3", "filter-crs": "EPSG:1234"}, "filter-crs"),
    ({"filter-crs": "EPSG:25832"}, "give the filter"),
    ({"severity": "high"}, "severity 'high' must be a whole number"),
    ({"on_network": "maybe"}, "true or false"),
])
def test_bad_filters_are_a_400_with_an_ogc_body(client, params, phrase):
    r = client.get("/collections/defects/items", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"code", "description"} and body["code"] == "InvalidParameterValue"
    assert phrase.lower() in body["description"].lower(), body


def test_spatial_filter_on_a_line_collection_is_refused_clearly(client):
    r = client.get("/collections/segment_condition/items", params={"filter": "S_INTERSECTS(geometry, BBOX(0,0,1,1))"})
    assert r.status_code == 400 and "geometry" in r.json()["description"]


def test_filter_on_an_empty_store(tmp_path):
    with open_store(tmp_path / "empty.db") as store, serve_in_thread(create_app(store)) as url:
        r = httpx.get(f"{url}/collections/defects/items", params={"filter": "severity >= 3"})
        assert r.status_code == 200 and r.json()["numberMatched"] == 0


# -- GDAL: a where clause on the served layer ----------------------------------------------------------


@pytest.mark.skipif("OAPIF" not in pyogrio.list_drivers(), reason="GDAL without the OAPIF driver")
def test_gdal_where_clause_on_the_served_defects(api, stored):
    """GDAL's OAPIF driver (3.12) sends a where clause to the server only as the pre-standard draft
    'cql-text', found from the OpenAPI filter-lang enum, not as CQL2; it evaluates ours on the client.
    Either way the rows must be the right ones (QGIS 3.32+ pushes CQL2 down by our conformance classes)."""
    where = "severity >= 3 AND code <> 'D40'"
    frame = pyogrio.read_dataframe(f"OAPIF:{api.url}/", layer="defects", where=where, fid_as_index=True)
    expected = {int(d.id) for d in stored if d.severity >= 3 and d.code != "D40"}
    assert 0 < len(expected) < len(stored)
    assert {int(i) for i in frame.index} == expected


# -- the translation itself, on a small in-memory table with Danish street names -------------------------


def test_case_insensitive_matching_folds_every_alphabet_not_just_ascii():
    """SQLite's lower() and LIKE fold ASCII only; CASEI and the road parameter must find 'Østergade'."""
    from roadscan.api.ogc import cql2
    from roadscan.api.ogc.collections import COLLECTIONS
    from roadscan.api.store import schema
    from roadscan.api.store.cql2_sql import where_clause
    from roadscan.api.store.matching import contains_casei
    from sqlalchemy import create_engine, select

    engine = create_engine("sqlite://")
    t = schema.defects
    t.create(engine)
    names = ["Østergade", "østergade", "ØSTER ALLÉ", "Vestergade", "Ærø_vej 100%"]
    now = datetime.now(timezone.utc)
    base = {c.name: now if isinstance(c.type, schema.UTCDateTime) else 1
            for c in t.c if c.name not in ("id", "road_name") and not c.nullable}
    with engine.begin() as conn:
        conn.execute(t.insert(), [{**base, "id": i, "road_name": n} for i, n in enumerate(names)])
    queryables = COLLECTIONS["defects"].queryables

    def select_names(text=None, clause=None):
        if clause is None:
            clause = where_clause(cql2.parse(text), queryables, geometry=cql2.geometry_literal)
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(select(t.c.road_name).where(clause))}

    assert select_names("CASEI(road_name) LIKE CASEI('øster%')") == {"Østergade", "østergade", "ØSTER ALLÉ"}
    assert select_names("CASEI(road_name) = CASEI('ØSTERGADE')") == {"Østergade", "østergade"}
    assert select_names("road_name LIKE 'Øster%'") == {"Østergade"}
    assert select_names("road_name LIKE 'Ærø\\_vej 100\\%'") == {"Ærø_vej 100%"}
    assert select_names("road_name LIKE '%100%'") == {"Ærø_vej 100%"}
    assert select_names(clause=contains_casei(t.c.road_name, "STERGADE", "sqlite")) == {
        "Østergade", "østergade", "Vestergade"}
    assert select_names(clause=contains_casei(t.c.road_name, "allé", "sqlite")) == {"ØSTER ALLÉ"}
    assert select_names(clause=contains_casei(t.c.road_name, "_vej 100%", "sqlite")) == {"Ærø_vej 100%"}


# -- filters as real clients send them (issue 14) ------------------------------------------------------


def _seconds(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("interval", ["0000-01-01T00:00:00Z/{end}", "../{end}", "/{end}"])
def test_open_starts_in_every_form_clients_send(client, stored, interval):
    """QGIS 3.22 writes an open start as year 0000 (a 400 before, and an empty layer); OGC 17-069r4 allows
    '..' and an empty start."""
    end = sorted(d.first_seen for d in stored)[len(stored) // 2]
    body = items(client, datetime=interval.format(end=_seconds(end)))
    assert ids(body) == {d.id for d in stored if d.first_seen <= end.replace(microsecond=0)}


@pytest.mark.parametrize("interval", ["{start}/..", "{start}/", "{start}/9999-12-31T00:00:00Z"])
def test_open_ends_in_every_form_clients_send(client, stored, interval):
    start = sorted(d.last_seen for d in stored)[len(stored) // 2]
    body = items(client, datetime=interval.format(start=_seconds(start)))
    assert ids(body) == {d.id for d in stored if d.last_seen >= start.replace(microsecond=0)}


def test_the_collection_says_which_properties_datetime_tests(client):
    coll = client.get("/collections/defects").json()
    assert coll["temporal"]["start"] == "first_seen" and coll["temporal"]["end"] == "last_seen"
    assert {"updated_at", "last_seen", "first_seen"} <= set(coll["temporal"]["properties"])
    assert coll["extent"]["temporal"]["interval"][0][0] is not None
    props = client.get("/collections/defects/queryables").json()["properties"]
    assert props["first_seen"]["x-ogc-role"] == "primary-interval-start"
    assert props["last_seen"]["x-ogc-role"] == "primary-interval-end"
    assert "x-ogc-role" not in props["updated_at"]
    assert client.get("/collections/segment_condition/queryables").json()["properties"]["updated_at"]["x-ogc-role"] \
        == "primary-instant"


@pytest.mark.parametrize("prop", ["updated_at", "last_seen", "first_seen"])
def test_datetime_property_moves_datetime_onto_that_property(client, stored, prop):
    """A QGIS or GDAL layer URL carrying datetime-property=updated_at: the date filter they fold into
    datetime tests the property the user filtered on; every resource takes the parameter."""
    cut = sorted(getattr(d, prop) for d in stored)[len(stored) // 2 - 1]
    body = items(client, datetime=f"0000-01-01T00:00:00Z/{cut.isoformat()}", **{"datetime-property": prop})
    assert ids(body) == {d.id for d in stored if getattr(d, prop) <= cut}
    body = items(client, datetime=f"{cut.isoformat()}/..", **{"datetime-property": prop})
    assert ids(body) == {d.id for d in stored if getattr(d, prop) >= cut}
    for path in ("/", "/conformance", "/collections", "/collections/defects", "/collections/defects/queryables"):
        assert client.get(path, params={"datetime-property": prop}).status_code == 200, path


def test_datetime_property_must_be_a_time_property(client):
    r = client.get("/collections/defects/items", params={"datetime": "2026-01-01/..", "datetime-property": "severity"})
    assert r.status_code == 400 and "updated_at" in r.json()["description"]


def test_cql_text_as_gdal_writes_it(client, stored):
    """GDAL (3.6-3.12) sends `filter-lang=cql-text` once the API definition lists it: ILIKE, and times as
    strings ('2026-06-01T' for a day, hours without minutes)."""
    name = stored[0].name
    body = items(client, filter=f"(name ILIKE '{name.upper()}') AND (severity >= 1)", **{"filter-lang": "cql-text"})
    assert ids(body) == {d.id for d in stored if d.name == name}
    cut = sorted(d.last_seen for d in stored)[len(stored) // 2].replace(microsecond=0)
    body = items(client, filter=f"last_seen <= '{_seconds(cut)}'", **{"filter-lang": "cql-text"})
    assert ids(body) == {d.id for d in stored if d.last_seen <= cut}
    day = cut.date().isoformat()
    body = items(client, filter=f"first_seen >= '{day}T'", **{"filter-lang": "cql-text"})
    assert ids(body) == {d.id for d in stored if d.first_seen.date() >= cut.date()}
    quoted = items(client, filter="road_name = 'x ILIKE ''y'''", **{"filter-lang": "cql-text"})  # text, not ILIKE
    assert quoted["numberMatched"] == 0


def test_api_definition_lists_what_gdal_looks_for(client):
    """GDAL's OAPIF driver reads the items operation's parameters: cql-text under filter-lang, and each
    field it may filter on by name (ogroapifdriver.cpp, GetQueryableAttributes)."""
    params = {p["name"]: p for p in client.get("/openapi.json").json()["paths"]["/collections/{collectionId}/items"]
              ["get"]["parameters"]}
    assert "cql-text" in params["filter-lang"]["schema"]["enum"]
    assert {"severity", "updated_at", "last_seen", "priority", "condition"} <= set(params)
    assert params["updated_at"]["schema"] == {"type": "string", "format": "date-time"}
    assert "updated_at" in params["datetime-property"]["schema"]["enum"]
