"""Exports in the user's CRS, with dates as dates, a GeoPackage GDAL 3.6 opens quietly, an embedded QGIS
style, Shapefile-safe names and per-defect links (issue 14).

Reproduced first: `GET /collections/defects/export?crs=.../25832` answered 200 with EPSG:4326
coordinates (the parameter was silently ignored); the GeoPackage held its dates as text, was version
1.4 (GDAL 3.6 warns about it) and carried no style.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET

import pandas as pd
import pyogrio
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from _vejmidte_survey import LOKAL_ID, ROAD_CHAINAGES, store_survey
from roadscan.api.app import create_app
from roadscan.api.exports import export, export_crs, shapefile_names
from roadscan.api.store.database import open_store
from roadscan.cli import app
from roadscan.core.errors import ConfigError

pytestmark = pytest.mark.realdata
EPSG_25832 = "http://www.opengis.net/def/crs/EPSG/0/25832"
PUBLIC = "https://roads.odense.example"


@pytest.fixture(scope="module")
def db(shared_data, tmp_path_factory):
    return store_survey(tmp_path_factory.mktemp("store") / "stige.db",
                        shared_data / "roads" / "vejmidte_stige_odense_0461.gml").db


@pytest.fixture(scope="module")
def gpkg(db, tmp_path_factory):
    result = CliRunner().invoke(app, ["export", "--db", str(db), "--format", "gpkg", "--crs", "EPSG:25832",
                                      "--public-url", PUBLIC, "--out", str(tmp_path_factory.mktemp("out") / "stige")])
    assert result.exit_code == 0, result.output
    return next(p for p in (db.parent.parent.glob("out*/stige.gpkg")))


def test_api_export_honours_crs(db):
    with TestClient(create_app(db)) as client:
        plain = client.get("/collections/defects/export", params={"format": "csv"})
        asked = client.get("/collections/defects/export", params={"format": "csv", "crs": EPSG_25832})
        gpkg = client.get("/collections/defects/export", params={"crs": EPSG_25832})
        bad = client.get("/collections/defects/export", params={"crs": "EPSG:99999"})
    assert plain.status_code == asked.status_code == gpkg.status_code == 200
    assert bad.status_code == 400 and "crs" in bad.json()["description"]
    table = pd.read_csv(pd.io.common.StringIO(asked.text))
    assert table["x"].between(5e5, 7e5).all() and table["y"].between(6e6, 7e6).all()  # UTM 32N metres
    assert "x" not in pd.read_csv(pd.io.common.StringIO(plain.text))
    path = db.parent / "download.gpkg"
    path.write_bytes(gpkg.content)
    layer = pyogrio.read_dataframe(path, layer="defects")
    assert layer.crs.to_epsg() == 25832 and layer.geometry.x.between(5e5, 7e5).all()
    assert layer["image_url"].dropna().str.startswith("http://testserver/defects/").all()


def test_export_crs_accepts_codes_and_uris_and_refuses_nonsense():
    assert export_crs("25832").to_epsg() == export_crs(EPSG_25832).to_epsg() == 25832
    assert export_crs("[EPSG:3006]").to_epsg() == 3006 and export_crs(None) is None
    assert export_crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84").is_geographic
    with pytest.raises(ConfigError, match="not a coordinate reference system"):
        export_crs("EPSG:12345678")


def test_geopackage_in_25832_with_dates_links_ids_and_road_reference(gpkg):
    info = pyogrio.read_info(gpkg, layer="defects")
    types = dict(zip(info["fields"], info["ogr_types"]))
    assert {types[c] for c in ("first_seen", "last_seen", "updated_at")} == {"OFTDateTime"}
    assert types["defect_id"] in ("OFTInteger", "OFTInteger64")
    layer = pyogrio.read_dataframe(gpkg, layer="defects", fid_as_index=True)
    assert list(layer.index) == list(layer["defect_id"])  # the file's feature ids are the defect ids
    assert layer.crs.to_epsg() == 25832 and len(layer) == len(ROAD_CHAINAGES)
    assert set(layer["source_id"]) == {LOKAL_ID}
    assert (layer["map_url"] == PUBLIC + "/map?defect=" + layer["defect_id"].astype(str) + "#19/"
            + layer["map_url"].str.split("#19/").str[1]).all()
    assert (layer["image_url"] == PUBLIC + "/defects/" + layer["defect_id"].astype(str) + "/image").all()
    condition = pyogrio.read_info(gpkg, layer="segment_condition")
    assert dict(zip(condition["fields"], condition["ogr_types"]))["updated_at"] == "OFTDateTime"


def test_geopackage_is_version_1_3_and_gdal_3_6_opens_it_without_a_warning(gpkg):
    with sqlite3.connect(gpkg) as conn:
        assert conn.execute("pragma application_id").fetchone()[0] == 0x47504B47  # "GPKG"
        assert conn.execute("pragma user_version").fetchone()[0] == 10300
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        pytest.skip("Debian's gdal-bin (ogrinfo) is not installed")
    run = subprocess.run([ogrinfo, "-ro", "-so", str(gpkg), "defects"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and "WARNING" not in run.stdout, run.stderr
    assert "first_seen: DateTime" in run.stdout and "EPSG\",25832" in run.stdout.replace(" ", "")
    layers = subprocess.run([ogrinfo, "-ro", "-q", str(gpkg)], capture_output=True, text=True, timeout=60).stdout
    assert "layer_styles" in layers


def test_geopackage_embeds_a_qgis_style_per_layer(gpkg):
    styles = pyogrio.read_dataframe(gpkg, layer="layer_styles")
    geometry = {name: pyogrio.read_info(gpkg, layer=name)["geometry_name"]
                for name in ("defects", "segment_condition", "condition_bins")}
    assert dict(zip(styles["f_table_name"], styles["f_geometry_column"])) == geometry
    assert (styles["f_table_schema"] == "").all() and styles["useAsDefault"].all()
    by_layer = styles.set_index("f_table_name")
    defects = ET.fromstring(by_layer.loc["defects", "styleQML"].split("\n", 1)[1])
    renderer = defects.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "priority"
    assert renderer.get("enableorderby") == "1"  # the most urgent drawn last, on top
    condition = ET.fromstring(by_layer.loc["segment_condition", "styleQML"].split("\n", 1)[1]).find("renderer-v2")
    assert condition.get("type") == "categorizedSymbol" and condition.get("attr") == "condition"
    assert {c.get("value") for c in condition.iter("category")} == {"1", "2", "3", "4", "5", ""}
    ET.fromstring(by_layer.loc["defects", "styleSLD"])  # well-formed


def test_shapefile_names_are_unique_and_short(db, tmp_path):
    long = ["priority_breakdown", "priority_reason", "municipality_code", "road_chainage_m", "abcdefghijkl",
            "abcdefghijkm", "ABCDEFGHIJ"]
    names = shapefile_names(long)
    assert all(len(n) <= 10 for n in names.values())
    assert len({n.lower() for n in names.values()}) == len(long)
    with open_store(db, create=False) as store:
        files = export(store, "shp", tmp_path / "stige", crs="EPSG:25832")
    shp = tmp_path / "stige_defects.shp"
    assert shp in files and (tmp_path / "stige_defects_fields.csv") in files
    info = pyogrio.read_info(shp)
    assert all(len(f) <= 10 for f in info["fields"]) and len(set(info["fields"])) == len(info["fields"])
    layer = pyogrio.read_dataframe(shp)
    assert layer.crs.to_epsg() == 25832 and set(layer["source_id"]) == {LOKAL_ID}
    assert "road_ch_m" in layer and "defect_id" in layer
    fields = pd.read_csv(tmp_path / "stige_defects_fields.csv")
    assert dict(zip(fields["name"], fields["shapefile_field"]))["road_chainage_m"] == "road_ch_m"


def test_condition_layers_carry_the_segments_road_reference(gpkg):
    segments = pyogrio.read_dataframe(gpkg, layer="segment_condition")
    driven = segments[segments["source_id"] == LOKAL_ID]
    assert len(driven) == 3 and set(driven["road_code"]) == {"0048"} and set(driven["municipality_code"]) == {"0461"}
    bins = pyogrio.read_dataframe(gpkg, layer="condition_bins")
    on_road = bins[bins["source_id"] == LOKAL_ID].sort_values("road_bin_start_m")
    # the bins of the three segments tile the source road's chainage from 0 to its end without a gap
    assert on_road["road_bin_start_m"].iloc[0] == pytest.approx(0.0)
    assert (on_road["road_bin_start_m"].to_numpy()[1:] == pytest.approx(on_road["road_bin_end_m"].to_numpy()[:-1]))
    assert on_road["road_bin_end_m"].iloc[-1] == pytest.approx(411.04, abs=0.01)


def test_reproduced_a_default_geopackage_is_1_4_which_gdal_3_6_warns_about(tmp_path):
    """Why the version is set: what GDAL 3.12 (pyogrio) writes by default, Debian's GDAL 3.6 warns about."""
    import geopandas as gpd
    import shapely

    path = tmp_path / "default.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(10, 55)], crs=4326).to_file(path)
    with sqlite3.connect(path) as conn:
        version = conn.execute("pragma user_version").fetchone()[0]
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None or version < 10400:
        pytest.skip("needs Debian's ogrinfo and a GDAL that writes GeoPackage 1.4")
    run = subprocess.run([ogrinfo, "-ro", "-so", str(path), "default"], capture_output=True, text=True, timeout=60)
    assert "may only be partially supported" in run.stderr
