"""OGC API Features over HTTP: the real server (`roadscan serve`) and a real client (httpx).

The store holds one sample survey with its painted defects, so every count below is known from the
store itself; the tests compare what the API serves with what the store holds.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import httpx
import pytest
from pyproj import Transformer

from roadscan.api.app import create_app
from roadscan.api.exports import defects_layer
from roadscan.api.store.database import open_store

from _live_api import serve_in_thread
from _postgres import both_backends

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}".format


@pytest.fixture(scope="module")
def stored(api):
    """The defects as the store holds them (CRS84 lon/lat), keyed by id."""
    with open_store(api.db) as store:
        layer = defects_layer(store)
    return {int(r.id): r for r in layer.itertuples()}


def get_json(client, url, **params):
    r = client.get(url, params=params or None)
    assert r.status_code == 200, r.text
    return r


def all_items(client, collection, **params):
    return get_json(client, f"/collections/{collection}/items", **params).json()


def test_landing_page_links_lead_to_the_api_definition_conformance_and_data(client):
    body = get_json(client, "/").json()
    rels = {link["rel"]: link["href"] for link in body["links"] if link["type"] != "text/html"}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert "openapi" in httpx.get(rels["service-desc"]).json()
    assert httpx.get(rels["conformance"]).json()["conformsTo"]
    assert httpx.get(rels["data"]).json()["collections"]


def test_conformance_declares_core_geojson_html_and_crs(client):
    classes = get_json(client, "/conformance").json()["conformsTo"]
    for part in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                 "ogcapi-features-1/1.0/conf/html", "ogcapi-features-2/1.0/conf/crs"):
        assert f"http://www.opengis.net/spec/{part}" in classes


@both_backends
def test_collections_describe_extent_crs_and_items(client, stored):
    body = get_json(client, "/collections").json()
    by_id = {c["id"]: c for c in body["collections"]}
    assert set(by_id) == {"defects", "segment_condition", "surveys"}
    for c in by_id.values():
        assert c["storageCrs"] == CRS84
        assert {CRS84, EPSG(4326), EPSG(3857), EPSG(25832), EPSG(25833), EPSG(3006), EPSG(3067)} <= set(c["crs"])
        assert any(link["rel"] == "items" and link["type"] == "application/geo+json" for link in c["links"])
        assert get_json(client, f"/collections/{c['id']}").json()["id"] == c["id"]
    minx, miny, maxx, maxy = by_id["defects"]["extent"]["spatial"]["bbox"][0]
    assert all(minx <= d.lon <= maxx and miny <= d.lat <= maxy for d in stored.values())
    start, end = by_id["defects"]["extent"]["temporal"]["interval"][0]
    assert start == min(d.first_seen for d in stored.values()).isoformat().replace("+00:00", "Z")


@both_backends
def test_defects_are_geojson_with_human_names_and_priority_breakdown(client, api, stored):
    r = get_json(client, "/collections/defects/items")
    assert r.headers["content-type"] == "application/geo+json"
    assert r.headers["content-crs"] == f"<{CRS84}>"
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == len(stored) == api.n_painted
    assert datetime.fromisoformat(body["timeStamp"]).tzinfo is not None
    for feat in body["features"]:
        d = stored[feat["id"]]
        props = feat["properties"]
        assert feat["geometry"] == {"type": "Point", "coordinates": [round(d.lon, 7), round(d.lat, 7)]}
        assert props["name"] in {"longitudinal crack", "transverse crack", "alligator crack", "pothole"}
        assert props["code"] == d.code and props["severity"] == d.severity and props["status"] == "open"
        assert isinstance(props["priority_breakdown"], dict)
        assert sum(props["priority_breakdown"].values()) == pytest.approx(props["priority"])
        assert props["first_seen"].endswith("Z") and props["on_network"] is True
    priorities = [f["properties"]["priority"] for f in body["features"]]
    assert priorities == sorted(priorities, reverse=True)


@both_backends
def test_next_links_page_through_every_defect_once(client, stored):
    seen, url, pages = [], "/collections/defects/items?limit=3", 0
    while url:
        body = get_json(client, url).json()
        pages += 1
        assert body["numberReturned"] == len(body["features"]) <= 3
        assert body["numberMatched"] == len(stored)
        seen += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        assert ("prev" in links) == (pages > 1)
        url = links.get("next")
    assert pages == -(-len(stored) // 3)
    assert sorted(seen) == sorted(stored)


def test_offset_past_the_end_is_an_empty_page(client, stored):
    body = all_items(client, "defects", offset=len(stored) + 5)
    assert body["numberReturned"] == 0 and body["numberMatched"] == len(stored)
    assert "next" not in {link["rel"] for link in body["links"]}


@both_backends
def test_bbox_selects_the_defects_inside_it(client, stored):
    target = next(iter(stored.values()))
    box = [target.lon - 1e-5, target.lat - 1e-5, target.lon + 1e-5, target.lat + 1e-5]
    inside = {i for i, d in stored.items() if box[0] <= d.lon <= box[2] and box[1] <= d.lat <= box[3]}
    body = all_items(client, "defects", bbox=",".join(map(str, box)))
    assert {f["id"] for f in body["features"]} == inside and target.id in inside
    # the same box in EPSG:4326 is latitude first
    latlon = ",".join(map(str, [box[1], box[0], box[3], box[2]]))
    assert all_items(client, "defects", bbox=latlon, **{"bbox-crs": EPSG(4326)})["numberMatched"] == len(inside)
    # and in ETRS-TM35FIN metres
    e, n = Transformer.from_crs("OGC:CRS84", "EPSG:3067", always_xy=True).transform(target.lon, target.lat)
    metric = f"{e - 0.5},{n - 0.5},{e + 0.5},{n + 0.5}"
    assert target.id in {f["id"] for f in all_items(client, "defects", bbox=metric, **{"bbox-crs": EPSG(3067)})["features"]}
    assert all_items(client, "defects", bbox="10,50,11,51")["numberMatched"] == 0


@both_backends
def test_bbox_across_the_antimeridian_is_two_boxes(client, stored):
    # west edge 170°E, east edge 30°E: the box spans 170..180 and -180..30, which holds Helsinki
    assert all_items(client, "defects", bbox="170,59,30,61")["numberMatched"] == len(stored)
    assert all_items(client, "defects", bbox="170,59,-170,61")["numberMatched"] == 0


@pytest.mark.parametrize("epsg, lat_first", [(4326, True), (3857, False), (25832, False), (25833, False),
                                              (3006, True), (3067, False)])
def test_crs_reprojects_in_the_authority_axis_order(client, stored, epsg, lat_first):
    r = get_json(client, "/collections/defects/items", crs=EPSG(epsg))
    assert r.headers["content-crs"] == f"<{EPSG(epsg)}>"
    to = Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}", always_xy=True)
    for feat in r.json()["features"]:
        d = stored[feat["id"]]
        x, y = to.transform(d.lon, d.lat)
        expected = [y, x] if lat_first else [x, y]
        assert feat["geometry"]["coordinates"] == pytest.approx(expected, abs=0.01)


def test_crs_applies_to_lines_and_single_items(client):
    line = all_items(client, "surveys", crs=EPSG(25832))["features"][0]["geometry"]
    assert line["type"] == "LineString" and all(abs(x) > 1000 for xy in line["coordinates"] for x in xy)
    r = get_json(client, "/collections/defects/items/1", crs=EPSG(4326))
    lat, lon = r.json()["geometry"]["coordinates"]
    assert 59 < lat < 61 and 24 < lon < 26 and r.headers["content-crs"] == f"<{EPSG(4326)}>"


def _z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@both_backends
def test_datetime_selects_defects_whose_sightings_overlap_it(client, stored):
    target = min(stored.values(), key=lambda d: d.first_seen)
    during = {i for i, d in stored.items() if d.first_seen <= target.first_seen <= d.last_seen}
    got = all_items(client, "defects", datetime=_z(target.first_seen))
    assert {f["id"] for f in got["features"]} == during
    before = target.first_seen - timedelta(hours=1)
    assert all_items(client, "defects", datetime=f"../{_z(before)}")["numberMatched"] == 0
    assert all_items(client, "defects", datetime=f"{_z(before)}/..")["numberMatched"] == len(stored)
    last = max(d.last_seen for d in stored.values())
    assert all_items(client, "defects", datetime=f"{_z(last + timedelta(seconds=1))}/..")["numberMatched"] == 0
    assert all_items(client, "defects", datetime=f"{_z(before)}/{_z(last)}")["numberMatched"] == len(stored)
    assert all_items(client, "defects", datetime=target.first_seen.date().isoformat())["numberMatched"] == len(stored)


@both_backends
def test_property_filters_on_defects(client, stored):
    codes = {d.code for d in stored.values()}
    for code in codes:
        body = all_items(client, "defects", **{"class": code})
        assert body["numberMatched"] == sum(d.code == code for d in stored.values())
        assert {f["properties"]["code"] for f in body["features"]} == {code}
    assert all_items(client, "defects", status="fixed,dismissed")["numberMatched"] == 0
    top = max(d.severity for d in stored.values())
    assert all_items(client, "defects", min_severity=top)["numberMatched"] == sum(d.severity == top for d in stored.values())
    road = stored[next(iter(stored))].road_name
    assert all_items(client, "defects", road=road.upper()[:5])["numberMatched"] >= 1
    # filters combine with paging: numberMatched counts the filtered set
    assert all_items(client, "defects", limit=1, status="open")["numberMatched"] == len(stored)


@both_backends
def test_single_feature_by_id_in_each_collection(client):
    for collection in ("defects", "segment_condition", "surveys"):
        first = all_items(client, collection, limit=1)["features"][0]
        r = get_json(client, f"/collections/{collection}/items/{first['id']}")
        assert r.headers["content-type"] == "application/geo+json"
        feat = r.json()
        assert feat["type"] == "Feature" and feat["id"] == first["id"]
        assert feat["geometry"] == first["geometry"] and feat["properties"] == first["properties"]
        assert {"self", "collection"} <= {link["rel"] for link in feat["links"]}


@both_backends
def test_segment_condition_and_surveys_hold_lines(client):
    cond = all_items(client, "segment_condition")
    assert cond["numberMatched"] > 0
    for feat in cond["features"]:
        assert feat["geometry"]["type"] == "LineString" and isinstance(feat["id"], str)
        assert feat["properties"]["condition"] in (None, 1, 2, 3, 4, 5)
    surveys = all_items(client, "surveys")
    assert surveys["numberMatched"] == 1
    props = surveys["features"][0]["properties"]
    assert props["started_at"].endswith("Z") and "footage_path" not in props


@pytest.mark.parametrize("url", ["/", "/conformance", "/collections", "/collections/defects",
                                 "/collections/defects/items", "/collections/defects/items/1"])
def test_html_by_f_or_accept_header(client, url):
    r = client.get(url, params={"f": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<!DOCTYPE html>")
    browser = client.get(url, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")
    machine = client.get(url, headers={"Accept": "application/json"})
    assert machine.headers["content-type"] in ("application/json", "application/geo+json")


def test_html_items_are_a_table_with_links_to_each_feature(client, stored):
    text = client.get("/collections/defects/items", params={"f": "html", "limit": 2}).text
    assert "<table>" in text and "pothole" in text
    assert text.count("/collections/defects/items/") >= 2
    assert ">next page<" in text


@pytest.mark.parametrize("url, status, phrase", [
    ("/collections/defects/items?bbox=1,2,3", 400, "bbox"),
    ("/collections/defects/items?bbox=a,b,c,d", 400, "bbox"),
    ("/collections/defects/items?bbox=0,10,1,5", 400, "latitude"),
    ("/collections/defects/items?bbox=0,0,200,1", 400, "longitude"),
    ("/collections/defects/items?bbox=5e5,6.7e6,4e5,6.8e6&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3067", 400, "minimum"),
    ("/collections/defects/items?bbox-crs=EPSG:1234", 400, "bbox-crs"),
    ("/collections/defects/items?crs=http://www.opengis.net/def/crs/EPSG/0/9999", 400, "crs"),
    ("/collections/defects/items?crs=EPSG:4326x", 400, "crs"),
    ("/collections/defects/items?bbox=0,0,1,1&bbox-crs=urn:nothing", 400, "bbox-crs"),
    ("/collections/defects/items?limit=0", 400, "limit"),
    ("/collections/defects/items?limit=10001", 400, "limit"),
    ("/collections/defects/items?limit=ten", 400, "limit"),
    ("/collections/defects/items?offset=-1", 400, "offset"),
    ("/collections/defects/items?datetime=yesterday", 400, "datetime"),
    ("/collections/defects/items?datetime=2026-06-01T08:00:00", 400, "time zone"),
    ("/collections/defects/items?datetime=2026-06-31", 400, "not a valid"),
    ("/collections/defects/items?datetime=../..", 400, "datetime"),
    ("/collections/defects/items?datetime=2026-06-02T00:00:00Z/2026-06-01T00:00:00Z", 400, "ends before"),
    ("/collections/defects/items?class=D99", 400, "class"),
    ("/collections/defects/items?status=broken", 400, "status"),
    ("/collections/defects/items?min_severity=9", 400, "min_severity"),
    ("/collections/defects/items?colour=red", 400, "colour"),
    ("/collections/surveys/items?class=D40", 400, "class"),
    ("/collections/defects/items?f=xml", 400, "f"),
    ("/collections/defects?limit=5", 400, "limit"),
    ("/collections/potholes", 404, "potholes"),
    ("/collections/potholes/items", 404, "potholes"),
    ("/collections/defects/items/99999", 404, "99999"),
    ("/collections/defects/items/abc", 404, "abc"),
    ("/collections/segment_condition/items/nope", 404, "nope"),
    ("/no/such/path", 404, "no such resource"),
])
def test_bad_requests_get_a_precise_ogc_error(client, url, status, phrase):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"code", "description"}
    assert phrase.lower() in body["description"].lower(), body


def test_serve_refuses_a_store_that_does_not_exist(tmp_path):
    missing = tmp_path / "nothing.db"
    run = subprocess.run([sys.executable, "-m", "roadscan.cli", "serve", "--db", str(missing)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "no store here" in run.stderr and "Traceback" not in run.stderr
    assert not missing.exists()


def test_an_empty_store_serves_empty_collections(tmp_path):
    with open_store(tmp_path / "empty.db") as store, serve_in_thread(create_app(store)) as url:
        collections = httpx.get(f"{url}/collections").json()["collections"]
        assert [c["id"] for c in collections] == ["defects", "segment_condition", "surveys"]
        assert collections[0]["extent"]["spatial"]["bbox"] == [[-180, -90, 180, 90]]
        for c in collections:
            body = httpx.get(f"{url}/collections/{c['id']}/items", params={"crs": EPSG(25832)}).json()
            assert body["features"] == [] and body["numberMatched"] == body["numberReturned"] == 0
        assert httpx.get(f"{url}/collections/defects/items/1").status_code == 404



def test_collection_extent_is_cached_until_the_store_changes(tmp_path):
    from _api_copy import copy_live_store

    db = copy_live_store(tmp_path)
    with serve_in_thread(create_app(db)) as url:
        def bbox():
            return httpx.get(f"{url}/collections/defects").json()["extent"]["spatial"]["bbox"][0]

        before = bbox()
        assert bbox() == before
        with open_store(db) as store, store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE defects SET lon = lon + 0.5 WHERE id = (SELECT min(id) FROM defects)")
        assert bbox()[2] == pytest.approx(before[2] + 0.5, abs=0.01)  # 250 m of drive: far under 0.01 degrees

def test_the_api_runs_without_the_detector_stack():
    """A GIS server has no torch: the app, its routes and the serve command must not import it."""
    code = ("import sys, roadscan.api.app, roadscan.cli; roadscan.api.app.create_app; "
            "bad = [m for m in ('torch', 'ultralytics', 'roadscan.pipeline', 'roadscan.detector') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
