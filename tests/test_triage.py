"""Triage (issue 14): municipal staff mark what a survey found as verified or not an issue, and tie a
defect to a citizen's service request; both kept in the history, filterable, exported.

Reproduced first: the statuses were open, scheduled, fixed, dismissed and "not re-observed" only, and a
defect had nowhere to hold an external reference.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from _postgres import both_backends
from _vejmidte_survey import ROAD_CHAINAGES, store_drive
from roadscan.api.app import create_app
from roadscan.api.auth import create_key
from roadscan.api.exports import export
from roadscan.api.store.database import open_store
from roadscan.api.store.filters import DefectFilter, select_defects
from roadscan.core.statuses import (ACTIVE_STATUSES, OPEN_STATUSES, SETTABLE_STATUSES, UNSEEN_MARKABLE,
                                    DefectStatus, canonical_status)
from roadscan.geo.defect_changes import status_changes
from roadscan.geo.roads import load_network

ROAD = shapely.LineString([(590_000, 6_140_000), (590_420, 6_140_000)])


@pytest.fixture()
def db(backend, tmp_path, request):
    """A store with one survey's five defects: a SQLite file, or a PostGIS database for @both_backends."""
    network = load_network(gpd.GeoDataFrame({"osm_id": [7], "highway": ["residential"], "name": ["Skolevej"]},
                                            geometry=[ROAD], crs="EPSG:25832"))
    path = request.getfixturevalue("postgres").new_database("triage") if backend == "postgresql" else \
        tmp_path / "triage.db"
    store_drive(path, network, ROAD)
    return path


@pytest.fixture()
def client(db):
    with open_store(db) as store:
        key = create_key(store, "gis-team", "crew")[1]
    with TestClient(create_app(db), headers={"X-API-Key": key}) as c:
        yield c


def test_triage_statuses_in_the_status_model():
    assert {"verified", "not an issue"} <= {str(s) for s in SETTABLE_STATUSES}
    assert DefectStatus.VERIFIED in OPEN_STATUSES and DefectStatus.VERIFIED in ACTIVE_STATUSES
    assert DefectStatus.NOT_AN_ISSUE not in OPEN_STATUSES and DefectStatus.NOT_AN_ISSUE not in ACTIVE_STATUSES
    assert canonical_status("Unverified") == "open" and canonical_status("fixed") == "fixed"
    # a survey that does not see a verified defect again flags it; "not an issue" is a person's word and stays
    assert DefectStatus.VERIFIED in UNSEEN_MARKABLE and DefectStatus.NOT_AN_ISSUE not in UNSEEN_MARKABLE
    seen = pd.DataFrame({"defect_id": [1], "status": ["not an issue"]})
    unseen = pd.DataFrame({"defect_id": [2, 3], "status": ["verified", "not an issue"]})
    changes = status_changes(seen, unseen)
    assert changes[["defect_id", "status"]].values.tolist() == [[2, "not re-observed"]]


@both_backends
def test_verify_dismiss_as_not_an_issue_and_reference_through_the_api(client, db):
    ids = [f["id"] for f in client.get("/collections/defects/items").json()["features"]]
    assert len(ids) == len(ROAD_CHAINAGES)
    verified = client.post(f"/defects/{ids[0]}/status", json={"status": "verified", "note": "seen on site",
                                                             "external_ref": "SR-2026-0412"})
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["status"] == "verified" and body["external_ref"] == "SR-2026-0412"
    assert body["history"][-1]["external_ref"] == "SR-2026-0412" and body["history"][-1]["note"] == "seen on site"
    assert client.post(f"/defects/{ids[1]}/status", json={"status": "not an issue"}).json()["status"] == "not an issue"
    # "unverified" is open by its other name
    assert client.post(f"/defects/{ids[2]}/status", json={"status": "unverified"}).json()["status"] == "open"
    # the reference alone, without touching the status; then cleared; each step in the history
    ref = client.post(f"/defects/{ids[3]}/reference", json={"external_ref": "SR-77"}).json()
    assert ref["status"] == "open" and ref["external_ref"] == "SR-77"
    assert "SR-77" in ref["history"][-1]["note"]
    cleared = client.post(f"/defects/{ids[3]}/reference", json={"external_ref": ""}).json()
    assert cleared["external_ref"] is None and cleared["history"][-1]["external_ref"] == ""
    assert client.post(f"/defects/{ids[3]}/status", json={"status": "scheduled"}).json()["external_ref"] is None
    assert client.post(f"/defects/{ids[0]}/status", json={"status": "scheduled"}).json()["external_ref"] == \
        "SR-2026-0412"  # a status update without the reference keeps it
    history = client.get(f"/defects/{ids[0]}/history").json()
    assert [h["status"] for h in history["history"]] == ["open", "verified", "scheduled"]
    assert client.post(f"/defects/{ids[0]}/status", json={"status": "bogus"}).status_code == 400
    assert client.post("/defects/999999/reference", json={"external_ref": "x"}).status_code == 404

    # filterable: OGC API property filter and CQL2, the store's filter, work lists
    items = client.get("/collections/defects/items", params={"external_ref": "SR-2026-0412"}).json()
    assert [f["id"] for f in items["features"]] == [ids[0]]
    assert items["features"][0]["properties"]["external_ref"] == "SR-2026-0412"
    cql = client.get("/collections/defects/items", params={"filter": "external_ref IS NOT NULL"}).json()
    assert cql["numberMatched"] == 1
    noissue = client.get("/collections/defects/items", params={"status": "not an issue"}).json()
    assert [f["id"] for f in noissue["features"]] == [ids[1]]
    work = client.get("/worklists").json()["items"]
    assert ids[1] not in {w["id"] for w in work}  # "not an issue" is not work; verified and open are
    assert {ids[0], ids[2]} <= {w["id"] for w in work}
    with open_store(db, create=False) as store:
        assert set(select_defects(store, DefectFilter.parse(statuses="unverified"))["id"]) == {ids[2], ids[4]}


def test_triage_and_reference_are_exported(client, db, tmp_path):
    ids = [f["id"] for f in client.get("/collections/defects/items").json()["features"]]
    client.post(f"/defects/{ids[0]}/status", json={"status": "verified", "external_ref": "SR-1"})
    with open_store(db, create=False) as store:
        (path,) = export(store, "gpkg", tmp_path / "triage")
    layer = pyogrio.read_dataframe(path, layer="defects").set_index("defect_id")
    assert layer.loc[ids[0], "status"] == "verified" and layer.loc[ids[0], "external_ref"] == "SR-1"
    csv = client.get("/collections/defects/export", params={"format": "csv", "status": "verified"})
    table = pd.read_csv(pd.io.common.StringIO(csv.text))
    assert list(table["defect_id"]) == [ids[0]] and list(table["external_ref"]) == ["SR-1"]


def test_a_schema_4_store_gains_the_road_reference_and_external_ref(tmp_path):
    """Schema 6's columns are added in place; defects stored before keep working and can be triaged."""
    import sqlite3
    from pathlib import Path

    from roadscan.api.store.database import schema_version
    from roadscan.api.store.defect_status import record_status, status_history
    from roadscan.api.store.schema import SCHEMA_VERSION

    path = tmp_path / "v4.db"
    at = "2026-05-04T09:00:00.000000+00:00"
    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "fixtures" / "schema_v4.sql").read_text())
        conn.execute("insert into defects (id, code, name, family, lat, lon, on_network, n_obs, n_surveys, "
                     "max_confidence, mean_confidence, severity, severity_reason, priority, priority_breakdown, "
                     "status, first_seen, last_seen, updated_at) values (1, 'D40', 'pothole', 'pothole', 55.4, "
                     "10.4, 1, 2, 1, 0.8, 0.7, 3, 'size', 50, '{}', 'open', ?, ?, ?)", (at, at, at))
    with open_store(path) as store:
        assert schema_version(store) == SCHEMA_VERSION >= 6
        record = record_status(store, 1, "verified", note="checked", by="gis", external_ref="SR-9")
        assert record.status == "verified" and record.external_ref == "SR-9"
        assert status_history(store, 1).history[-1]["external_ref"] == "SR-9"
        row = select_defects(store).iloc[0]
    assert row["external_ref"] == "SR-9" and pd.isna(row["source_id"]) and pd.isna(row["road_chainage_m"])
    with sqlite3.connect(path) as conn:
        segment_columns = {r[1] for r in conn.execute("pragma table_info(segments)")}
    assert {"source_id", "source_kind", "municipality_code", "road_code", "road_start_m"} <= segment_columns
