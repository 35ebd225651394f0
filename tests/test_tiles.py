"""Vector tiles (MVT) of defects and segment condition, decoded with mapbox-vector-tile.

The live store holds one sample survey; the tiles that hold a known defect are computed from its
lon/lat, and what a tile holds is compared with what the store holds.
"""

from __future__ import annotations

import math
import shutil
import sqlite3

import httpx
import mapbox_vector_tile
import pytest
import shapely
from _live_api import serve_in_thread
from _postgres import both_backends
from roadscan.api.app import create_app
from roadscan.api.tiles import EXTENT, TileAddress, tile_for

MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture(scope="module")
def defects(api):
    con = sqlite3.connect(api.db)
    try:
        rows = con.execute("SELECT id, lon, lat, code, name, severity, priority, status FROM defects").fetchall()
    finally:
        con.close()
    return {r[0]: r for r in rows}


def decode(content: bytes) -> dict:
    return mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})


def get_tile(client, collection, z, x, y, **headers):
    r = client.get(f"/tiles/{collection}/{z}/{x}/{y}.mvt", headers=headers)
    assert r.status_code in (200, 304), r.text
    return r


def expected_position(lon, lat, z, x, y):
    n = 1 << z
    fx = (lon + 180.0) / 360.0 * n - x
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n - y
    return fx * EXTENT, fy * EXTENT


@pytest.mark.parametrize("z", [12, 16, 18])
@both_backends
def test_defect_tile_holds_the_known_defect_with_its_properties_where_it_lies(client, defects, z):
    did, lon, lat, code, name, severity, priority, status = defects[min(defects)]
    x, y = tile_for(lon, lat, z)
    r = get_tile(client, "defects", z, x, y)
    assert r.headers["content-type"] == MVT
    layer = decode(r.content)["defects"]
    assert layer["extent"] == EXTENT
    by_id = {f["properties"]["id"]: f for f in layer["features"]}
    f = by_id[did]
    assert f["geometry"]["type"] == "Point"
    assert {k: f["properties"][k] for k in ("code", "name", "severity", "priority", "status")} == \
        {"code": code, "name": name, "severity": severity, "priority": priority, "status": status}
    ex, ey = expected_position(lon, lat, z, x, y)
    px, py = f["geometry"]["coordinates"]
    assert abs(px - ex) <= 1 and abs(py - ey) <= 1
    assert 0 <= px <= EXTENT and 0 <= py <= EXTENT


@both_backends
def test_a_low_zoom_tile_holds_every_defect_and_a_far_tile_none(client, defects):
    lon, lat = defects[min(defects)][1:3]
    x, y = tile_for(lon, lat, 8)
    ids = {f["properties"]["id"] for f in decode(get_tile(client, "defects", 8, x, y).content)["defects"]["features"]}
    assert ids == set(defects)
    far = get_tile(client, "defects", 8, (x + 128) % 256, y)
    assert far.status_code == 200 and decode(far.content) == {}


@both_backends
def test_defects_in_neighbouring_tiles_are_in_the_tile_that_holds_them(client, defects):
    z = 19  # small tiles: the sample's defects spread over several
    seen: dict[int, set[tuple[int, int]]] = {}
    for did, lon, lat, *_ in defects.values():
        x, y = tile_for(lon, lat, z)
        layer = decode(get_tile(client, "defects", z, x, y).content)["defects"]
        inside = {f["properties"]["id"] for f in layer["features"]
                  if 0 <= f["geometry"]["coordinates"][0] <= EXTENT and 0 <= f["geometry"]["coordinates"][1] <= EXTENT}
        assert did in inside
        seen.setdefault(did, set()).add((x, y))
    assert len({xy for s in seen.values() for xy in s}) > 1


@both_backends
def test_condition_tiles_hold_clipped_segments_then_bins(client, api, defects):
    lon, lat = defects[min(defects)][1:3]
    con = sqlite3.connect(api.db)
    levels = dict(con.execute("SELECT level, count(*) FROM segment_condition GROUP BY level").fetchall())
    con.close()
    x, y = tile_for(lon, lat, 12)
    low = decode(get_tile(client, "segment_condition", 12, x, y).content)["segment_condition"]
    assert {f["properties"]["level"] for f in low["features"]} == {"segment"}
    assert len(low["features"]) == levels["segment"]  # the whole sample lies in one z12 tile
    for f in low["features"]:
        assert f["geometry"]["type"] in ("LineString", "MultiLineString")
        assert f["properties"].get("condition") in (None, 1, 2, 3, 4, 5) and f["properties"]["label"]
    x, y = tile_for(lon, lat, 18)
    high = decode(get_tile(client, "segment_condition", 18, x, y).content)["segment_condition"]
    assert {f["properties"]["level"] for f in high["features"]} == {"bin"}
    # clipped: nothing reaches further than the buffer around the tile
    for f in high["features"]:
        bounds = shapely.geometry.shape(f["geometry"]).bounds
        assert bounds[0] >= -70 and bounds[1] >= -70 and bounds[2] <= EXTENT + 70 and bounds[3] <= EXTENT + 70


@both_backends
def test_tiles_carry_a_strong_etag_and_answer_304(client, defects):
    lon, lat = defects[min(defects)][1:3]
    x, y = tile_for(lon, lat, 15)
    first = get_tile(client, "defects", 15, x, y)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in first.headers["cache-control"]
    again = get_tile(client, "defects", 15, x, y, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = get_tile(client, "segment_condition", 15, x, y)
    assert other.headers["etag"] != etag


def test_etag_changes_when_the_store_changes(tmp_path, api, defects):
    db = tmp_path / "copy.db"
    shutil.copy(api.db, db)
    did, lon, lat = defects[min(defects)][:3]
    x, y = tile_for(lon, lat, 16)
    with serve_in_thread(create_app(db)) as url:
        before = httpx.get(f"{url}/tiles/defects/16/{x}/{y}.mvt")
        con = sqlite3.connect(db)
        con.execute("UPDATE defects SET status = 'fixed' WHERE id = ?", (did,))
        con.commit()
        con.close()
        after = httpx.get(f"{url}/tiles/defects/16/{x}/{y}.mvt", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        status = {f["properties"]["id"]: f["properties"]["status"] for f in decode(after.content)["defects"]["features"]}
        assert status[did] == "fixed"


@pytest.mark.parametrize("path", ["defects/3/8/0", "defects/25/0/0", "defects/-1/0/0", "defects/a/0/0",
                                  "defects/2/0/4", "segment_condition/1/2/0"])
def test_bad_tile_addresses_are_400_with_an_ogc_body(client, path):
    r = client.get(f"/tiles/{path}.mvt")
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidParameterValue"
    assert "tile" in body["description"] or "zoom" in body["description"]


def test_unknown_collection_is_404(client):
    r = client.get("/tiles/surveys/0/0/0.mvt")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"


def test_tile_address_bounds_round_trip():
    t = TileAddress(1, 1, 0)
    west, south, east, north = t.bounds_lonlat()
    assert (west, east) == (0.0, 180.0) and south == pytest.approx(0.0, abs=1e-9) and north == pytest.approx(85.0511, abs=1e-4)
    assert tile_for(10.0, 55.0, 14) == (8647, 5182)  # from the slippy-map formula


def test_point_encoder_matches_mapbox_vector_tile():
    import numpy as np
    from roadscan.api.tiles import encode_points

    rng = np.random.default_rng(0)
    n = 300
    x, y = rng.integers(-64, EXTENT + 64, n).astype(float), rng.integers(-64, EXTENT + 64, n).astype(float)
    props = {"id": list(range(1, n + 1)), "code": [["D00", "D40"][i % 2] for i in range(n)],
             "severity": [int(v) for v in rng.integers(1, 6, n)], "priority": [float(v) for v in rng.uniform(0, 200, n)],
             "note": [None if i % 3 else "ø-vej" for i in range(n)], "big": [100_000 + i for i in range(n)]}
    mine = decode(encode_points("defects", props["id"], x, y, props))
    reference = decode(mapbox_vector_tile.encode([{"name": "defects", "features": [
        {"id": i + 1, "geometry": shapely.Point(x[i], y[i]),
         "properties": {k: v[i] for k, v in props.items() if v[i] is not None}} for i in range(n)]}],
        default_options={"y_coord_down": True, "extents": EXTENT}))
    assert mine == reference


@both_backends
def test_a_crowded_tile_keeps_the_most_urgent_defects(api, defects, monkeypatch):
    from roadscan.api import tiles
    from roadscan.api.store.database import open_store

    monkeypatch.setattr(tiles, "MAX_POINTS", 3)
    lon, lat = defects[min(defects)][1:3]
    x, y = tile_for(lon, lat, 10)
    with open_store(api.store) as store:
        data = tiles.render_tile(store, tiles.TileCache(), "test", "defects", TileAddress(10, x, y))
    kept = {f["properties"]["id"] for f in decode(data)["defects"]["features"]}
    urgent = sorted(defects.values(), key=lambda r: (-r[6], r[0]))[:3]
    assert kept == {r[0] for r in urgent}


def test_tiles_need_a_key_when_reads_are_not_public(api):
    with serve_in_thread(create_app(api.db, public_reads=False)) as url:
        r = httpx.get(f"{url}/tiles/defects/0/0/0.mvt")
        assert r.status_code == 401
        assert httpx.get(f"{url}/map/summary").status_code == 401
