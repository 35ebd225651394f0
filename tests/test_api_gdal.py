"""GIS clients read the API: GDAL's OGC API Features driver (what QGIS and ogr2ogr use), via pyogrio
(GDAL 3.12) and Debian's `ogrinfo` (GDAL 3.6).

GDAL discovers the collections from the landing page, pages through items by following `next`
links, and turns our GeoJSON into typed attribute columns; these tests check that what it reads is
what the store holds, and that a layer's filters (bbox, properties, dates, combinations) reach the
server as a filter and count what the same SQL counts in the store. GDAL sends a filter only on
fields the API definition lists as items parameters, as CQL text only when filter-lang lists
`cql-text`, and otherwise turns any date comparison into `datetime` (read from its OAPIF driver,
ogroapifdriver.cpp: GetQueryableAttributes, BuildFilter, BuildFilterCQLText).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pyogrio
import pytest

from _client_filters import bbox_case, filter_cases, filter_store
from _gis_clients import ogrinfo, ogrinfo_count, pyogrio_read
from _live_api import live_api, serve_process

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


# -- filters: GDAL sends them to the server, and counts what SQL counts ----------------------------------


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    """A served copy of the sample store whose defects have several statuses: (base URL, database)."""
    folder = tmp_path_factory.mktemp("gdal-filters")
    db = filter_store(folder)
    return serve_process(db, folder / "server.log"), db


def _items_queries(urls: list[str]) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(u).query) for u in urls if "/collections/defects/items" in u]


def _sent_as_filter(urls: list[str]) -> dict[str, list[str]]:
    """The query of the request that read the features (the last items request): it must carry the
    filter in CQL text and no `datetime`, which would test another property than the one filtered."""
    query = _items_queries(urls)[-1]
    assert query.get("filter-lang") == ["cql-text"] and query.get("filter"), urls
    assert "datetime" not in query, urls
    return query


def test_gdal_3_12_sends_each_filter_to_the_server_and_counts_what_sql_counts(filtered):
    url, db = filtered
    cases = filter_cases(db)
    results = pyogrio_read([{"source": f"OAPIF:{url}/", "layer": "defects", "where": c.ogr} for c in cases])
    for case, got in zip(cases, results):
        assert got["count"] == case.count(db), (case.name, got)
        _sent_as_filter(got["urls"])


def test_gdal_3_12_bbox_goes_to_the_server(filtered):
    url, db = filtered
    box, n = bbox_case(db)
    got = pyogrio_read([{"source": f"OAPIF:{url}/", "layer": "defects", "bbox": box}])[0]
    assert got["count"] == n
    assert "bbox" in _items_queries(got["urls"])[-1]


needs_ogrinfo = pytest.mark.skipif(ogrinfo() is None, reason="no ogrinfo: install Debian's gdal-bin "
                                                               "(apt-get install -y gdal-bin) for GDAL 3.6")


@needs_ogrinfo
def test_gdal_3_6_ogrinfo_sends_each_filter_to_the_server_and_counts_what_sql_counts(filtered):
    url, db = filtered
    for case in filter_cases(db):
        got = ogrinfo_count(f"OAPIF:{url}/", "defects", where=case.ogr)
        assert got["count"] == case.count(db), (case.name, got["version"], got["output"][-2000:])
        _sent_as_filter(got["urls"])


@needs_ogrinfo
def test_gdal_3_6_ogrinfo_bbox_counts_what_sql_counts(filtered):
    url, db = filtered
    box, n = bbox_case(db)
    got = ogrinfo_count(f"OAPIF:{url}/", "defects", bbox=box)
    assert got["count"] == n, got["output"][-2000:]
    assert "bbox" in _items_queries(got["urls"])[-1]
