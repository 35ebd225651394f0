"""GIS clients read the API: GDAL's OGC API Features driver (what QGIS and ogr2ogr use), via pyogrio.

GDAL discovers the collections from the landing page, pages through items by following `next`
links, and turns our GeoJSON into typed attribute columns; these tests check that what it reads is
what the store holds.
"""

from __future__ import annotations

import httpx
import pyogrio
import pytest

from _live_api import live_api

pytestmark = pytest.mark.skipif("OAPIF" not in pyogrio.list_drivers(),
                                reason="this pyogrio's bundled GDAL was built without the OAPIF "
                                       "(OGC API Features) driver")


@pytest.fixture(scope="module")
def api():
    return live_api()


@pytest.fixture(scope="module")
def source(api):
    return f"OAPIF:{api.url}/"


@pytest.fixture(scope="module")
def served(api):
    """The defects as served, by id."""
    body = httpx.get(f"{api.url}/collections/defects/items", params={"limit": 10000}).json()
    return {f["id"]: f for f in body["features"]}


def test_gdal_lists_our_collections_with_their_geometry_types(source):
    layers = {name: kind for name, kind in pyogrio.list_layers(source)}
    assert layers == {"defects": "Point", "segment_condition": "LineString", "surveys": "LineString"}


@pytest.mark.parametrize("page_size", [None, 3])
def test_gdal_reads_every_defect_with_geometry_and_attributes(source, api, served, page_size):
    options = {} if page_size is None else {"PAGE_SIZE": page_size}  # 3: GDAL must follow next links
    frame = pyogrio.read_dataframe(source, layer="defects", fid_as_index=True, **options)
    assert len(frame) == len(served) == api.n_painted
    assert frame.crs is not None and frame.crs.equals("OGC:CRS84")
    assert set(frame.geom_type) == {"Point"}
    assert {"code", "name", "severity", "priority", "status", "first_seen", "road_name"} <= set(frame.columns)
    assert frame["severity"].dtype.kind == "i" and frame["priority"].dtype.kind == "f"
    for fid, row in frame.iterrows():
        feat = served[int(fid)]
        assert [row.geometry.x, row.geometry.y] == pytest.approx(feat["geometry"]["coordinates"], abs=1e-7)
        assert row["name"] == feat["properties"]["name"] and row["severity"] == feat["properties"]["severity"]
        assert row["first_seen"].tzinfo is not None


def test_gdal_spatial_filter_becomes_our_bbox(source, served):
    lon, lat = next(iter(served.values()))["geometry"]["coordinates"]
    box = (lon - 1e-5, lat - 1e-5, lon + 1e-5, lat + 1e-5)
    frame = pyogrio.read_dataframe(source, layer="defects", bbox=box)
    inside = [f for f in served.values()
              if box[0] <= f["geometry"]["coordinates"][0] <= box[2] and box[1] <= f["geometry"]["coordinates"][1] <= box[3]]
    assert 1 <= len(frame) == len(inside)


def test_gdal_reads_segment_condition_lines(source, api):
    expected = httpx.get(f"{api.url}/collections/segment_condition/items").json()["numberMatched"]
    frame = pyogrio.read_dataframe(source, layer="segment_condition")
    assert len(frame) == expected > 0
    assert set(frame.geom_type) == {"LineString"} and "condition_label" in frame.columns


@pytest.mark.parametrize("epsg", [25832, 3067])
def test_gdal_reads_defects_in_another_crs(source, api, served, epsg):
    """GDAL asks for the CRS (Part 2 `crs=`); the points match our CRS84 ones transformed here.

    (EPSG:4326 is the default read above: GDAL reads it as CRS84, in GIS axis order.)"""
    frame = pyogrio.read_dataframe(source, layer="defects", fid_as_index=True, CRS=f"EPSG:{epsg}")
    assert len(frame) == api.n_painted and frame.crs.to_epsg() == epsg
    expected = pyogrio.read_dataframe(source, layer="defects", fid_as_index=True).to_crs(epsg)
    tolerance = 0.01  # metres
    for fid, row in frame.iterrows():
        want = expected.geometry.loc[fid]
        assert row.geometry.x == pytest.approx(want.x, abs=tolerance)
        assert row.geometry.y == pytest.approx(want.y, abs=tolerance)
        assert row["name"] == served[int(fid)]["properties"]["name"]
