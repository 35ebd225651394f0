"""Unconfirmed defects (a single weak sighting): stored as such, shown as such, off the work lists by default,
confirmed when seen again (issue 17)."""

from __future__ import annotations

import io
import sqlite3

import httpx
import pandas as pd
import pytest

from roadscan.api.app import create_app
from roadscan.api.store.database import open_store, schema_version
from roadscan.api.store.schema import SCHEMA_VERSION
from roadscan.geo.merge import merge_into_existing, merge_observations
from roadscan.geo.severity import assess_severity

from _api_copy import copy_live_store
from _live_api import serve_in_thread


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = copy_live_store(tmp_path_factory.mktemp("evidence"))
    with sqlite3.connect(db) as conn:  # the most urgent defect becomes a single weak sighting
        top = conn.execute("SELECT id FROM defects ORDER BY priority DESC, id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE defects SET evidence = 'unconfirmed', other_classes = 'D20' WHERE id = ?", (top,))
    return db, top


@pytest.fixture(scope="module")
def client(db):
    with serve_in_thread(create_app(db[0])) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def test_work_lists_leave_unconfirmed_defects_out_unless_asked(client, db):
    _, weak = db
    default = client.get("/worklists", params={"limit": 500}).json()["items"]
    assert weak not in [it["id"] for it in default] and {it["evidence"] for it in default} == {"confirmed"}
    asked = client.get("/worklists", params={"limit": 500, "unconfirmed": "true"}).json()["items"]
    assert asked[0]["id"] == weak and asked[0]["evidence"] == "unconfirmed"
    gpx = client.get("/worklists", params={"limit": 5, "unconfirmed": "true", "f": "gpx"}).text
    assert "unconfirmed (one weak sighting)" in gpx


def test_items_exports_and_filters_say_unconfirmed(client, db):
    _, weak = db
    item = client.get(f"/collections/defects/items/{weak}").json()
    assert item["properties"]["evidence"] == "unconfirmed" and item["properties"]["other_classes"] == "D20"
    found = client.get("/collections/defects/items", params={"filter": "evidence = 'unconfirmed'"}).json()
    assert [f["id"] for f in found["features"]] == [weak]
    csv = client.get("/collections/defects/export", params={"format": "csv"})
    assert csv.status_code == 200
    table = pd.read_csv(io.StringIO(csv.text))
    assert table.set_index("defect_id").loc[weak, "evidence"] == "unconfirmed"


def test_schema_7_migration_gives_stored_defects_their_evidence(tmp_path, db):
    path = tmp_path / "old.db"
    with sqlite3.connect(db[0]) as a, sqlite3.connect(path) as b:
        a.backup(b)
    with sqlite3.connect(path) as conn:  # back to schema 6: no evidence, no other classes
        conn.execute("ALTER TABLE defects DROP COLUMN evidence")
        conn.execute("ALTER TABLE defects DROP COLUMN other_classes")
        conn.execute("UPDATE defects SET n_obs = 1, max_confidence = 0.3 WHERE id = ?", (db[1],))
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    with open_store(path, create=False) as store:
        assert schema_version(store) == SCHEMA_VERSION >= 7
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT id, evidence FROM defects").fetchall())
    assert rows[db[1]] == "unconfirmed" and set(rows.values()) >= {"confirmed"}


def test_a_later_survey_seeing_it_again_confirms_it_and_restores_its_severity():
    sighting = dict(survey_id=1, frame_index=10, time=pd.Timestamp("2026-06-01 08:00", tz="UTC"), code="D40",
                    confidence=0.3, x=40.0, y=1.0, width_m=1.0, length_m=1.0, distance_m=8.0, segment_id="S1",
                    road_name="Skolevej", road_class="local", chainage_m=40.0, side="right", offset_m=1.0,
                    on_network=True)
    first = assess_severity(merge_observations(pd.DataFrame([dict(sighting, obs_id=0)])))
    assert first.iloc[0]["evidence"] == "unconfirmed" and first.iloc[0]["severity"] == 3
    again = merge_observations(pd.DataFrame([dict(sighting, obs_id=7, survey_id=2, x=40.3, chainage_m=40.3,
                                                  time=sighting["time"] + pd.Timedelta(days=20))]))
    result = merge_into_existing(first.assign(defect_id=[101]), again)
    updated = assess_severity(result.updates)
    assert len(result.inserts) == 0 and updated.iloc[0]["n_obs"] == 2
    assert updated.iloc[0]["evidence"] == "confirmed" and updated.iloc[0]["severity"] == 5
