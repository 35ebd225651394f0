"""`roadscan defects` and `roadscan export` on a store with defects: filters, layers QGIS can open."""

from __future__ import annotations

import json
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from roadscan.api.exports import defects_layer, read_area
from roadscan.api.store.database import open_store
from roadscan.api.store.filters import DefectFilter
from roadscan.cli import app
from roadscan.core.errors import ConfigError
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    drive = make_sample_drive(folder / "drive", length_m=250.0)
    path = folder / "store.db"
    with open_store(path) as store:
        process_survey(drive.video, drive.gpx, store, ProcessOptions(camera=drive.camera),
                       detector=TruthDetector(drive.boxes()), network=load_network(drive.roads))
    return path


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result


def test_defects_lists_by_priority_with_filters(db):
    with open_store(db) as store:
        everything = defects_layer(store)
        potholes = defects_layer(store, DefectFilter(codes=("D40",)))
        severe = defects_layer(store, DefectFilter(min_severity=3))
    assert len(everything) >= 6 and everything.priority.is_monotonic_decreasing
    assert len(potholes) and set(potholes.code) == {"D40"}
    assert len(severe) < len(everything) and (severe.severity >= 3).all()
    result = _run("defects", "--db", db, "--class", "D40")
    assert result.exit_code == 0, result.output
    assert "pothole" in result.output and "longitudinal crack" not in result.output
    road = everything.road_name.dropna().iloc[0]
    west, south, east, north = everything.lon.min(), everything.lat.min(), everything.lon.max(), everything.lat.max()
    inside = _run("defects", "--db", db, "--road", road[:5], "--bbox", f"{west - 0.01},{south - 0.01},{east + 0.01},{north + 0.01}")
    assert inside.exit_code == 0 and f"{len(everything)} defects" in inside.output
    outside = _run("defects", "--db", db, "--bbox", "10.0,55.0,10.1,55.1")
    assert outside.exit_code == 0 and "No defects" in outside.output


def test_bad_filters_are_user_errors(db):
    with pytest.raises(ConfigError, match="unknown defect class"):
        DefectFilter(codes=("D99",))
    with pytest.raises(ConfigError, match="unknown status"):
        DefectFilter(statuses=("repaired",))
    result = _run("defects", "--db", db, "--bbox", "1,2,3")
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)


def test_classes_are_codes_or_names_in_every_spelling():
    assert DefectFilter.parse(classes="pothole, d20").codes == ("D40", "D20")
    assert DefectFilter.parse(classes=["D40,alligator crack", "Repair"]).codes == ("D40", "D20", "Repair")
    with pytest.raises(ConfigError, match=r"unknown defect class \[''\]"):
        DefectFilter.parse(classes="")  # given but empty is not "every class"


def test_export_geopackage_has_three_layers(db, tmp_path):
    result = _run("export", "--db", db, "--format", "gpkg", "--out", tmp_path / "roads")
    assert result.exit_code == 0, result.output
    path = tmp_path / "roads.gpkg"
    layers = dict(pyogrio.list_layers(path))
    assert layers == {"defects": "Point", "segment_condition": "LineString", "condition_bins": "LineString",
                      "layer_styles": None}  # QGIS's styles (an attribute table)
    defects = pyogrio.read_dataframe(path, layer="defects")
    with open_store(db) as store:
        assert len(defects) == len(defects_layer(store))
    assert defects.crs.to_epsg() == 4326
    assert {"name", "severity", "priority", "road_name", "chainage_m", "status"} <= set(defects.columns)
    breakdown = json.loads(defects.priority_breakdown.iloc[0])
    assert sum(breakdown.values()) == pytest.approx(defects.priority.iloc[0], abs=0.05)
    condition = pyogrio.read_dataframe(path, layer="segment_condition")
    assert condition.condition.dropna().between(1, 5).all()


def test_export_geojson_and_csv_with_a_filter(db, tmp_path):
    result = _run("export", "--db", db, "--format", "geojson", "--out", tmp_path / "x", "--class", "D40")
    assert result.exit_code == 0, result.output
    gj = json.loads((tmp_path / "x_defects.geojson").read_text())
    assert gj["features"] and {f["properties"]["code"] for f in gj["features"]} == {"D40"}
    assert (tmp_path / "x_segment_condition.geojson").is_file()
    result = _run("export", "--db", db, "--format", "csv", "--out", tmp_path / "y")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "y_defects.csv")
    assert {"lat", "lon", "name", "priority"} <= set(table.columns)
    assert pd.read_csv(tmp_path / "y_condition_bins.csv")["wkt"].str.startswith("LINESTRING").all()


def test_export_to_a_missing_folder_is_refused(db, tmp_path):
    result = _run("export", "--db", db, "--format", "csv", "--out", tmp_path / "nope" / "x")
    assert result.exit_code != 0 and "does not exist" in str(result.exception)


def test_area_polygon_file_selects_defects(db, tmp_path):
    import geopandas as gpd
    import shapely

    with open_store(db) as store:
        layer = defects_layer(store)
    first = layer.iloc[0]
    area = gpd.GeoDataFrame(geometry=[shapely.Point(first.lon, first.lat).buffer(0.0001)], crs=4326).to_crs(3067)
    area.to_file(tmp_path / "area.gpkg")
    with open_store(db) as store:
        inside = defects_layer(store, DefectFilter(area=read_area(tmp_path / "area.gpkg")))
    assert first.id in set(inside.id) and len(inside) < len(layer)


@pytest.mark.parametrize("fmt", ["gpkg", "csv", "geojson"])
def test_export_of_a_filter_that_matches_nothing_writes_empty_layers(db, tmp_path, fmt):
    result = _run("export", "--db", db, "--format", fmt, "--out", tmp_path / "none", "--road", "no such road")
    assert result.exit_code == 0, result.output
    if fmt == "gpkg":
        assert len(pyogrio.read_dataframe(tmp_path / "none.gpkg", layer="defects")) == 0
    else:
        assert (tmp_path / f"none_defects.{'csv' if fmt == 'csv' else 'geojson'}").is_file()


def test_defects_on_unnamed_roads_are_listed(db, tmp_path):
    """A defect on a road without a name (pandas reads the NULL as NaN) prints as an unnamed road."""
    import shutil

    copy = tmp_path / "unnamed.db"
    shutil.copy(db, copy)
    with open_store(copy) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE defects SET road_name = NULL, side = NULL")
    result = _run("defects", "--db", copy)
    assert result.exit_code == 0, result.output
    assert "(unnamed road)" in result.output


def test_a_piped_table_keeps_every_column_whole(db):
    """Piped or logged, rich used to squeeze tables into 80 columns and cut names and coordinates."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    run = subprocess.run([sys.executable, "-m", "roadscan.cli", "defects", "--db", str(db), "--class", "pothole"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    with open_store(db) as store:
        potholes = defects_layer(store, DefectFilter(codes=("D40",)))
    rows = [line for line in run.stdout.splitlines() if "pothole" in line and "│" in line]
    assert len(rows) == min(len(potholes), 30) and max(map(len, run.stdout.splitlines())) > 80
    first = potholes.iloc[0]
    assert f"{first.lat:.6f}, {first.lon:.6f}" in rows[0] and first.road_name in rows[0]
