"""The GeoPackage export in EPSG:25832 as QGIS 3.22 (Debian's python3-qgis, headless) opens it: date
fields, the CRS and the embedded style, defects coloured by priority and condition by class (issue 14).
Skipped where PyQGIS is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from _vejmidte_survey import ROAD_CHAINAGES, store_survey
from roadscan.api.exports import export
from roadscan.api.qgis_styles import CONDITION_CLASSES, NOT_RATED, PRIORITY_RANGES
from roadscan.api.store.database import open_store

pytestmark = pytest.mark.realdata
SYSTEM_PYTHON = "/usr/bin/python3"
CHECK = Path(__file__).with_name("_qgis_style_check.py")


def _has_pyqgis() -> bool:
    if not shutil.which(SYSTEM_PYTHON):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60).returncode == 0


def _hex(rgb: str) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb.split(","))


@pytest.fixture(scope="module")
def qgis_view(shared_data, tmp_path_factory):
    if not _has_pyqgis():
        pytest.skip("Debian's python3-qgis (QGIS 3.22) is not installed")
    folder = tmp_path_factory.mktemp("qgis")
    db = store_survey(folder / "stige.db", shared_data / "roads" / "vejmidte_stige_odense_0461.gml").db
    with open_store(db, create=False) as store:
        (gpkg,) = export(store, "gpkg", folder / "stige", crs="EPSG:25832")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(folder)}
    run = subprocess.run([SYSTEM_PYTHON, str(CHECK), str(gpkg), "defects", "segment_condition", "condition_bins"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_qgis_opens_the_export_in_25832_with_date_fields_and_the_id(qgis_view):
    defects = qgis_view["defects"]
    assert defects["valid"] and defects["crs"] == "EPSG:25832" and len(defects["colours"]) == len(ROAD_CHAINAGES)
    assert {defects["fields"][c] for c in ("first_seen", "last_seen", "updated_at")} == {"DateTime"}
    assert defects["fields"]["defect_id"].startswith("Integer") and defects["feature_ids_are_defect_ids"]
    assert qgis_view["segment_condition"]["fields"]["updated_at"] == "DateTime"


def test_qgis_colours_defects_by_priority_most_urgent_on_top(qgis_view):
    defects = qgis_view["defects"]
    assert defects["renderer"] == "graduatedSymbol" and defects["attribute"] == "priority"
    assert defects["order_by"] and defects["order"].startswith('"priority" ASC')  # drawn last = on top
    for item in defects["colours"].values():
        expected = next(rgb for lo, hi, _, rgb in PRIORITY_RANGES if lo <= item["value"] < hi)
        assert item["colour"] == _hex(expected), item


def test_qgis_colours_condition_by_class(qgis_view):
    for name in ("segment_condition", "condition_bins"):
        layer = qgis_view[name]
        assert layer["renderer"] == "categorizedSymbol" and layer["attribute"] == "condition"
        for item in layer["colours"].values():
            rgb = CONDITION_CLASSES[item["value"]][1] if item["value"] is not None else NOT_RATED[1]
            assert item["colour"] == _hex(rgb), (name, item)
