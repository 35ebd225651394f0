"""Surveys onto the road network: one defect per painted defect, re-surveys update, never duplicate."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from roadscan.api.store.database import open_store
from roadscan.api.store.defect_status import status_history
from roadscan.api.store.defects import read_condition
from roadscan.api.store.filters import select_defects
from roadscan.api.store.surveys import count_rows
from roadscan.core.errors import RoadNetworkError
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector
from roadscan.sample.score import defect_errors

OPTS = ProcessOptions(camera="sample-drive")


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return make_sample_drive(tmp_path_factory.mktemp("drive"), length_m=250.0)


@pytest.fixture(scope="module")
def resurvey(tmp_path_factory):
    """The same route driven again, logged by a noisier GPS (so a different survey)."""
    return make_sample_drive(tmp_path_factory.mktemp("again"), length_m=250.0, gps_noise_m=1.0)


@pytest.fixture(scope="module")
def network(drive):
    return load_network(drive.roads)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.db") as s:
        yield s


def _run(drive, store, network, boxes=None):
    boxes = drive.boxes() if boxes is None else boxes
    return process_survey(drive.video, drive.gpx, store, OPTS, detector=TruthDetector(boxes), network=network)


def test_every_painted_defect_becomes_exactly_one_defect(drive, store, network):
    summary = _run(drive, store, network)
    defects = select_defects(store)
    assert summary.defects.new == len(defects) == len(drive.defects())
    scored = defect_errors(defects, drive, network)
    assert (scored.matches == 1).all(), scored
    assert scored.segment_ok.all(), scored
    assert scored.chainage_error_m.median() < 2.0
    assert defects.severity.between(1, 5).all() and (defects.priority > 0).all()
    assert (defects.status == "open").all()
    # every defect keeps its sightings and the frame that shows it best
    obs = pd.read_sql("select defect_id, count(*) n from observations group by defect_id", store.engine)
    assert obs.defect_id.notna().all() and set(obs.defect_id) == set(defects.id)
    assert defects.evidence_observation_id.notna().all()
    condition = read_condition(store)
    assert condition.condition.notna().any() and set(condition.condition.dropna()) <= {1, 2, 3, 4, 5}


def test_second_run_of_the_same_survey_changes_nothing(drive, store, network):
    _run(drive, store, network)
    before = count_rows(store), select_defects(store)
    again = _run(drive, store, network)
    assert again.already_stored
    assert count_rows(store) == before[0]
    pd.testing.assert_frame_equal(select_defects(store), before[1])


def test_second_survey_updates_and_never_duplicates(drive, resurvey, store, network):
    _run(drive, store, network)
    first = select_defects(store)
    summary = _run(resurvey, store, network)
    assert summary.survey_id == 2 and not summary.already_stored
    assert summary.defects.new == 0 and summary.defects.updated == len(first)
    after = select_defects(store)
    assert len(after) == len(first)
    assert (after.n_surveys == 2).all() and (after.last_survey_id == 2).all()
    assert (after.set_index("id").n_obs > first.set_index("id").n_obs).all()


def test_defect_not_seen_again_is_flagged_not_deleted(drive, resurvey, store, network):
    _run(drive, store, network)
    gone = int(drive.defects().id.iloc[2])
    _run(resurvey, store, network, boxes=resurvey.boxes().query("defect != @gone"))
    after = select_defects(store)
    assert len(after) == len(drive.defects())
    flagged = after[after.status == "not re-observed"]
    assert len(flagged) == 1
    history = pd.DataFrame(status_history(store, int(flagged.id.iloc[0])).history)
    assert list(history.status) == ["open", "not re-observed"] and "survey 2" in history.by.iloc[-1]


def test_fixed_defect_seen_again_is_reopened(drive, resurvey, store, network):
    _run(drive, store, network)
    with store.engine.begin() as conn:
        conn.execute(text("update defects set status = 'fixed' where id = 1"))
    summary = _run(resurvey, store, network)
    assert summary.defects.reopened == 1
    after = select_defects(store).set_index("id")
    assert after.loc[1, "status"] == "open"
    assert "reopened" in pd.DataFrame(status_history(store, 1).history).note.iloc[-1]


def test_network_that_misses_the_survey_is_refused(drive, store, tmp_path):
    import geopandas as gpd
    import shapely

    far = gpd.GeoDataFrame({"highway": ["residential"], "name": ["Elsewhere"]},
                           geometry=[shapely.LineString([(12.0, 55.0), (12.01, 55.0)])], crs="EPSG:4326")
    path = tmp_path / "far.gpkg"
    far.to_file(path)
    with pytest.raises(RoadNetworkError) as err:
        _run(drive, store, load_network(path))
    assert "far.gpkg" in str(err.value) and "does not reach" in str(err.value)
    assert count_rows(store)["surveys"] == 0
