"""Ids and links (issue 14): the defect id as an ordinary attribute in every layer, and links to each
defect's evidence image and map view under the server's public address (`--public-url`), in GPX
<link> elements a crew's phone can follow.

Reproduced first: the work-list GPX named the photo only inside <desc>, under whatever address the
request used (http://127.0.0.1:8000 for a server run as the README says), with no <link>.
"""

from __future__ import annotations

import geopandas as gpd
import gpxpy
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from _vejmidte_survey import ROAD_CHAINAGES, store_drive
from roadscan.api.app import create_app
from roadscan.api.tiles import DEFECT_PROPERTIES
from roadscan.cli import app as cli_app
from roadscan.geo.roads import load_network

PUBLIC = "https://veje.faxe.example/roadscan"
ROAD = shapely.LineString([(590_000, 6_140_000), (590_420, 6_140_000)])


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    network = load_network(gpd.GeoDataFrame({"osm_id": [7], "highway": ["residential"], "name": ["Skolevej"],
                                             "ref": ["12"]}, geometry=[ROAD], crs="EPSG:25832"))
    path = tmp_path_factory.mktemp("links") / "links.db"
    store_drive(path, network, ROAD)
    return path


def test_work_list_gpx_links_use_the_public_address(db):
    with TestClient(create_app(db, base_url=PUBLIC), base_url="http://127.0.0.1:8000") as client:
        gpx = gpxpy.parse(client.get("/worklists", params={"f": "gpx"}).text)
        listed = client.get("/worklists").json()["items"]
    assert len(gpx.waypoints) == len(ROAD_CHAINAGES) == len(gpx.routes[0].points)
    for wpt, item in zip(gpx.waypoints, listed):
        assert wpt.link == f"{PUBLIC}/defects/{item['id']}/image" and wpt.link_text == "photo"
        assert f"defect {item['id']}" in wpt.description and "127.0.0.1" not in wpt.description
        assert item["map"].startswith(f"{PUBLIC}/map?defect={item['id']}#19/")
    assert gpx.routes[0].points[0].link == gpx.waypoints[0].link
    # the road reference on the ground: road chainage along the source road, the road's own code
    assert "12" == listed[0]["road_code"] and listed[0]["road_chainage_m"] is not None
    csv = pd.read_csv(pd.io.common.StringIO(TestClient(create_app(db, base_url=PUBLIC)).get(
        "/worklists", params={"f": "csv"}).text))
    assert {"id", "image", "map", "source_id", "road_chainage_m", "external_ref"} <= set(csv.columns)


def test_without_a_public_address_links_follow_the_request(db):
    with TestClient(create_app(db), base_url="http://127.0.0.1:8000") as client:
        item = client.get("/worklists").json()["items"][0]
    assert item["image"].startswith("http://127.0.0.1:8000/defects/")


def test_defect_id_is_an_attribute_of_ogc_items_and_tiles(db):
    with TestClient(create_app(db)) as client:
        features = client.get("/collections/defects/items").json()["features"]
        one = client.get(f"/collections/defects/items/{features[0]['id']}").json()
    assert all(f["properties"]["defect_id"] == f["id"] for f in features)
    assert one["properties"]["defect_id"] == one["id"]
    assert "id" in DEFECT_PROPERTIES and "road_chainage_m" in DEFECT_PROPERTIES


def test_serve_and_export_take_public_url(db, tmp_path):
    runner = CliRunner()
    assert "--public-url" in runner.invoke(cli_app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    bad = runner.invoke(cli_app, ["export", "--db", str(db), "--public-url", "ftp://x", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "base URL" in str(bad.exception)
    ok = runner.invoke(cli_app, ["export", "--db", str(db), "--format", "csv", "--public-url", PUBLIC,
                                 "--out", str(tmp_path / "x")])
    assert ok.exit_code == 0, ok.output
    table = pd.read_csv(tmp_path / "x_defects.csv")
    assert table["map_url"].str.startswith(f"{PUBLIC}/map?defect=").all()
    assert (table["image_url"] == PUBLIC + "/defects/" + table["defect_id"].astype(str) + "/image").all()


def test_vector_tiles_carry_the_id_and_road_reference(db):
    import mapbox_vector_tile

    with TestClient(create_app(db)) as client:
        tile = client.get("/tiles/defects/0/0/0.mvt")
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content)["defects"]["features"]
    props = features[0]["properties"]
    assert len(features) == len(ROAD_CHAINAGES) and props["id"] == features[0]["id"]
    assert props["source_id"] == "7" and props["road_code"] == "12" and props["road_chainage_m"] > 0


def test_a_defect_without_an_evidence_image_links_to_the_map(db, tmp_path):
    """Found by the hostile-request suite: a defect with no evidence observation made the work list a 500
    (its image link was NaN, which JSON cannot hold)."""
    import shutil
    import sqlite3

    copy = tmp_path / "no-evidence.db"
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("update defects set evidence_observation_id = null")
    with TestClient(create_app(copy, base_url=PUBLIC)) as client:
        listed = client.get("/worklists", params={"order": "route"})
        gpx = gpxpy.parse(client.get("/worklists", params={"f": "gpx"}).text)
    assert listed.status_code == 200 and all(item["image"] is None for item in listed.json()["items"])
    assert all(w.link.startswith(f"{PUBLIC}/map?defect=") and w.link_text == "map" for w in gpx.waypoints)
