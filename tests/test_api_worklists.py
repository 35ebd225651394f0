"""Work lists over HTTP: filters, priority order, driving order over the stored road network, and the
CSV and GPX a crew takes on the road."""

from __future__ import annotations

import io
import json

import geopandas as gpd
import gpxpy
import httpx
import pandas as pd
import pytest
import shapely

from roadscan.api.app import create_app
from roadscan.api.exports import defects_layer
from roadscan.api.store.database import open_store
from roadscan.api.worklists import COLUMNS

from _api_copy import copy_live_store
from _live_api import postgres_copy, serve_in_thread
from _postgres import both_backends

SOUTH_END = "24.9495566,60.1668215"  # the southern end of the sample drive's street


@pytest.fixture(scope="module")
def db(tmp_path_factory, backend):
    """A copy of the live store: the SQLite file, or (backend postgresql) the URL of its copy in PostGIS."""
    folder = tmp_path_factory.mktemp("worklists")
    copy = copy_live_store(folder)
    if backend == "postgresql":
        url, images = postgres_copy(copy, folder / "pg-images")
        PG_IMAGES[url] = images
        return url
    return copy


PG_IMAGES: dict[str, object] = {}  # a PostGIS store's image folder (a SQLite store's sits beside its file)


@pytest.fixture(scope="module")
def stored(db):
    with open_store(db) as store:
        return defects_layer(store).set_index("id")


@pytest.fixture(scope="module")
def districts(db, stored, tmp_path_factory):
    """Two districts split at the middle of the street."""
    mid = float(stored["lat"].median())
    north = shapely.box(24.9, mid, 25.0, 60.2)
    south = shapely.box(24.9, 60.1, 25.0, mid)
    path = tmp_path_factory.mktemp("districts") / "districts.geojson"
    gpd.GeoDataFrame({"name": ["Nord", "Syd"]}, geometry=[north, south], crs=4326).to_crs(25832).to_file(path)
    return path


@pytest.fixture(scope="module")
def client(db, districts):
    store = open_store(db, create=False)
    store.images_dir = PG_IMAGES.get(db, store.images_dir)
    with serve_in_thread(create_app(store, districts=districts)) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c
    store.close()


def work(client, **params):
    r = client.get("/worklists", params=params)
    assert r.status_code == 200, r.text
    return r


@both_backends
def test_priority_order_lists_the_most_urgent_first_with_everything_a_crew_needs(client, stored):
    body = work(client).json()
    items = body["items"]
    assert body["count"] == len(items) == len(stored) and body["order"] == "priority"
    assert [it["priority"] for it in items] == sorted((it["priority"] for it in items), reverse=True)
    assert [it["order"] for it in items] == list(range(1, len(items) + 1))
    for it in items:
        row = stored.loc[it["id"]]
        assert it["class"] == row["name"] and it["code"] == row["code"] and it["road"] == row["road_name"]
        assert it["chainage_m"] == pytest.approx(row["chainage_m"]) and it["side"] == row["side"]
        assert it["severity"] == row["severity"] and it["status"] == row["status"]
        assert (it["lat"], it["lon"]) == pytest.approx((row["lat"], row["lon"]))
        assert sum(it["priority_breakdown"].values()) == pytest.approx(it["priority"], abs=0.6)
        assert it["image"].endswith(f"/defects/{it['id']}/image")
    image = httpx.get(items[0]["image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


@both_backends
def test_filters(client, stored):
    top = work(client, limit=3).json()["items"]
    assert [it["id"] for it in top] == list(stored.sort_values("priority", ascending=False, kind="stable").index[:3])
    cut = float(stored["priority"].median())
    assert {it["id"] for it in work(client, min_priority=cut).json()["items"]} == set(stored.index[stored.priority >= cut])
    potholes = work(client, **{"class": "pothole,D20"}).json()["items"]
    assert {it["code"] for it in potholes} == {"D40", "D20"}
    assert len(potholes) == stored["code"].isin(["D40", "D20"]).sum()
    mid = float(stored["lat"].median())
    north = work(client, bbox=f"24.9,{mid},25.0,60.2").json()["items"]
    assert {it["id"] for it in north} == set(stored.index[stored.lat >= mid])
    assert {it["id"] for it in work(client, district="Nord").json()["items"]} == {it["id"] for it in north}
    assert work(client, status="fixed").json()["count"] == 0


@pytest.mark.parametrize("params, says", [({"district": "Atlantis"}, "Nord, Syd"), ({"class": "D99"}, "unknown defect class"),
                                          ({"order": "alphabet"}, "order"), ({"start": "north"}, "lon,lat"),
                                          ({"bbox": "1,2,3"}, "bbox"), ({"limit": 0}, "limit"),
                                          ({"f": "kml"}, "f"), ({"status": "done"}, "status")])
def test_bad_parameters_are_400_and_say_why(client, params, says):
    r = client.get("/worklists", params=params)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameterValue"
    assert says in r.json()["description"]


@both_backends
def test_route_order_drives_the_street_from_the_start(client, stored):
    body = work(client, order="route", start=SOUTH_END).json()
    items = body["items"]
    assert body["order"] == "route" and body["start"] == [24.9495566, 60.1668215]
    lats = [it["lat"] for it in items]
    assert lats == sorted(lats)  # one street driven from its southern end: northwards, no back and forth
    assert all(it["by_road"] for it in items)
    legs = [it["leg_m"] for it in items]
    assert [it["route_m"] for it in items] == pytest.approx(pd.Series(legs).cumsum().tolist(), abs=0.2)
    assert body["total_route_m"] == pytest.approx(sum(legs), abs=0.5)
    assert 150 < body["total_route_m"] < 300  # along the 250 m drive
    north = work(client, order="route", start="24.9493198,60.1690656").json()["items"]
    assert [it["id"] for it in north] == [it["id"] for it in reversed(items)]


@both_backends
def test_route_order_without_start_begins_at_the_most_urgent(client, stored):
    items = work(client, order="route", limit=4).json()["items"]
    top4 = set(stored.sort_values("priority", ascending=False, kind="stable").index[:4])
    assert {it["id"] for it in items} == top4
    assert items[0]["id"] == stored["priority"].idxmax() and items[0]["route_m"] == 0


@both_backends
def test_csv_has_the_same_columns(client):
    listed = work(client, order="route", start=SOUTH_END).json()["items"]
    r = work(client, order="route", start=SOUTH_END, f="csv")
    assert r.headers["content-type"].startswith("text/csv") and "worklist.csv" in r.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(r.text))
    assert list(table.columns) == COLUMNS
    assert list(table["id"]) == [it["id"] for it in listed]
    assert json.loads(table["priority_breakdown"][0]) == listed[0]["priority_breakdown"]


@both_backends
def test_gpx_waypoints_in_route_order_parse_with_gpxpy(client):
    listed = work(client, order="route", start=SOUTH_END).json()["items"]
    r = work(client, order="route", start=SOUTH_END, f="gpx")
    assert r.headers["content-type"].startswith("application/gpx+xml")
    gpx = gpxpy.parse(r.text)
    assert [w.name for w in gpx.waypoints] == [f"{it['order']}. {it['class']} #{it['id']}" for it in listed]
    assert [c for w in gpx.waypoints for c in (w.latitude, w.longitude)] == pytest.approx(
        [c for it in listed for c in (it["lat"], it["lon"])], abs=1e-7)
    first = gpx.waypoints[0]
    assert listed[0]["road"] in first.description and "priority" in first.description
    assert len(gpx.routes) == 1 and len(gpx.routes[0].points) == len(listed)


def test_empty_list_in_every_format(client):
    assert work(client, status="dismissed", order="route").json()["items"] == []
    assert list(pd.read_csv(io.StringIO(work(client, status="dismissed", f="csv").text)).columns) == COLUMNS
    assert gpxpy.parse(work(client, status="dismissed", f="gpx").text).waypoints == []


def test_defect_off_the_network_has_no_road_and_the_list_still_serves(tmp_path):
    """A defect snapped to no road (no road name, no side) is listed with nulls, in every format."""
    db = copy_live_store(tmp_path)
    with open_store(db) as store, store.engine.begin() as conn:
        first = conn.exec_driver_sql("SELECT min(id) FROM defects").scalar()
        conn.exec_driver_sql("UPDATE defects SET road_name = NULL, side = NULL WHERE id = ?", (first,))
    with serve_in_thread(create_app(db)) as url, httpx.Client(base_url=url, timeout=30) as c:
        listed = {it["id"]: it for it in work(c, limit=500).json()["items"]}
        assert listed[first]["road"] is None and listed[first]["side"] is None
        assert work(c, f="gpx").text.count("<wpt") == len(listed)
        assert len(pd.read_csv(io.StringIO(work(c, f="csv").text))) == len(listed)


@pytest.fixture(scope="module")
def municipality(tmp_path_factory):
    """5,000 synthetic defects over Odense (bench/api.py's store)."""
    from _bench import load_bench

    db = tmp_path_factory.mktemp("municipality") / "odense.db"
    load_bench("api").build_store(db, 5000)
    return db


@pytest.mark.parametrize("box, area, min_priority, limit", [
    (None, None, None, 50), (None, None, 40, 500), ((10.3, 55.35, 10.4, 55.42), None, None, 30),
    (None, shapely.Point(10.4, 55.4).buffer(0.05), 30, 100), (None, shapely.Point(10.4, 55.4).buffer(0.01), None, 500),
])
def test_the_work_list_verb_reads_its_area_in_priority_order_and_matches_a_full_read(municipality, box, area,
                                                                                    min_priority, limit):
    """select_top reads the area's defects in priority order and stops at the limit (issue 15: every
    defect was read, 3-4 s on 100,000); it must list exactly what reading everything and cutting would."""
    from roadscan.api.store.filters import DefectFilter, select_top
    from roadscan.api.worklists import DEFAULT_STATUSES

    flt = DefectFilter(statuses=DEFAULT_STATUSES, bbox=box, area=area)
    with open_store(municipality) as store:
        top = select_top(store, flt, limit=limit, min_priority=min_priority)
        everything = defects_layer(store, flt)
    if min_priority is not None:
        everything = everything[everything["priority"] >= min_priority]
    assert list(top["id"]) == list(everything["id"].head(limit))
    assert 0 < len(top) <= limit
