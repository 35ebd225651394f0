"""The vector tile layers in GIS clients, from their TileJSON and the MapLibre style.

- GDAL's MVT driver (3.12 through pyogrio, 3.6 as Debian's ogrinfo) opens a zoom level of a tile layer
  (`MVT:{server}/tiles/defects/16`) and finds its TileJSON beside it (`/tiles/defects.json`, the way
  tileserver-gl lays tiles out; ogrmvtdataset.cpp, OpenDirectory): the layer, its fields and its features.
- QGIS 3.22 (Debian's PyQGIS, headless) opens the tiles as a vector tile layer and converts the style
  (`styleUrl=/tiles/style.json`) into its own renderer and labels, so the layers are not plain grey.
"""

from __future__ import annotations

import re
import subprocess

import httpx
import pyogrio
import pytest

from _gis_clients import ogrinfo, ogrinfo_count, qgis_missing, qgis_run


@pytest.fixture(scope="module")
def served(api):
    with httpx.Client(base_url=api.url, timeout=30) as c:
        defects = c.get("/collections/defects/items", params={"limit": 10000}).json()["features"]
        tilejson = {layer: c.get(f"/tiles/{layer}.json").json() for layer in ("defects", "roads", "all")}
        style = c.get("/tiles/style.json").json()
    return defects, tilejson, style


def test_tilejson_describes_each_layer(api, served):
    _defects, tilejson, style = served
    assert tilejson["defects"]["tilejson"] == "3.0.0"
    assert tilejson["defects"]["tiles"] == [f"{api.url}/tiles/defects/{{z}}/{{x}}/{{y}}.mvt"]
    assert {"id", "priority", "severity", "status"} <= set(tilejson["defects"]["vector_layers"][0]["fields"])
    assert [v["id"] for v in tilejson["all"]["vector_layers"]] == ["defects", "segment_condition", "roads"]
    assert {s["url"] for s in style["sources"].values()} == {f"{api.url}/tiles/{layer}.json"
                                                              for layer in ("defects", "segment_condition", "roads")}
    assert "glyphs" not in style  # labels need no font download (MapLibre draws them with a local font)


@pytest.mark.skipif("MVT" not in pyogrio.list_drivers(), reason="this pyogrio's GDAL has no MVT driver")
def test_gdal_3_12_opens_the_tile_layers_from_their_tilejson(api, served):
    defects, _tilejson, _style = served
    source = f"MVT:{api.url}/tiles/defects/16"
    assert [name for name, _ in pyogrio.list_layers(source)] == ["defects"]
    frame = pyogrio.read_dataframe(source, TILE_EXTENSION="mvt")
    assert set(frame["id"].astype(int)) == {f["id"] for f in defects}
    assert {"priority", "severity", "status", "road_name"} <= set(frame.columns)
    roads = pyogrio.read_dataframe(f"MVT:{api.url}/tiles/roads/16", TILE_EXTENSION="mvt")
    assert len(roads) > 0 and roads["name"].notna().any()
    assert set(name for name, _ in pyogrio.list_layers(f"MVT:{api.url}/tiles/all/16")) == \
        {"defects", "segment_condition", "roads"}


@pytest.mark.skipif(ogrinfo() is None, reason="no ogrinfo: install Debian's gdal-bin for GDAL 3.6")
def test_gdal_3_6_ogrinfo_opens_the_defects_tiles_from_their_tilejson(api, served):
    defects, _tilejson, _style = served
    done = subprocess.run([ogrinfo(), "-ro", "-al", "-oo", "TILE_EXTENSION=mvt", f"MVT:{api.url}/tiles/defects/16"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # a point near a tile edge is in both tiles (GDAL does not stitch a zoom level): count ids, not features
    ids = {int(float(v)) for v in re.findall(r"\n\s+id \((?:Real|Integer\w*)\) = ([\d.]+)", done.stdout)}
    assert ids == {f["id"] for f in defects}, done.stdout[-2000:]
    assert ogrinfo_count(f"MVT:{api.url}/tiles/defects/16", "defects")["count"] is not None


def test_qgis_draws_the_tiles_with_the_style(api):
    why = qgis_missing()
    if why:
        pytest.skip(why)
    base = api.url
    uri = f"type=xyz&url={base}/tiles/all/{{z}}/{{x}}/{{y}}.mvt&zmin=0&zmax=17&styleUrl={base}/tiles/style.json"
    got = qgis_run([{"kind": "vectortile", "uri": uri, "style_url": True}])[0]
    assert got["valid"] and got["max_zoom"] == 17, got
    assert got["style_loaded"] and got["renderer"] == "QgsVectorTileBasicRenderer", got
    assert got["styles"] >= 4 and got["labeling"], got  # roads, condition, defects drawn; street names labelled
    assert any("/tiles/style.json" in u for u in got["urls"]), got["urls"]
