"""A survey's defect changes computed by geo/ from plain frames, with no database: the domain rules
(new, seen again, reopened, not re-observed, left alone) and the condition rows the store receives."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from roadscan.core.changes import REOPENED, SEEN_AGAIN, UNSEEN
from roadscan.core.statuses import DefectStatus
from roadscan.core.tables import CONDITION_COLUMNS, COVERAGE_COLUMNS, OBSERVATION_COLUMNS
from roadscan.geo.condition import condition_table
from roadscan.geo.defect_changes import (MappingOptions, placed_nothing, plan_defect_changes, search_bbox,
                                         status_changes)
from roadscan.geo.roads import load_network

UTM32 = "EPSG:25832"
X0, Y0 = 590_000.0, 6_140_000.0  # Odense
T0 = pd.Timestamp("2026-05-01T10:00:00Z")
TO_LONLAT = Transformer.from_crs(UTM32, "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def network():
    """A 300 m road driven west to east, and a side road 200 m away that the survey never sees."""
    road = shapely.LineString([(X0, Y0), (X0 + 300, Y0)])
    side = shapely.LineString([(X0 + 150, Y0 + 200), (X0 + 150, Y0 + 400)])
    return load_network(gpd.GeoDataFrame({"osm_id": [1, 2], "highway": ["residential", "residential"],
                                          "name": ["Skolevej", "Sidevej"]}, geometry=[road, side], crs=UTM32))


def lonlat(x, y):
    lon, lat = TO_LONLAT.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def frames():
    """A frame every 5 m along the road, heading east."""
    x = X0 + np.arange(0, 300, 5.0)
    lon, lat = lonlat(x, np.full(len(x), Y0))
    return pd.DataFrame({"frame_index": np.arange(len(x)), "time": T0 + pd.to_timedelta(np.arange(len(x)), "s"),
                         "lat": lat, "lon": lon, "heading_deg": 90.0})


def observations(*defects):
    """Each (code, x) seen in three consecutive frames ahead of it, 1.5 m right of the centreline."""
    rows = []
    for code, x in defects:
        first = int((x - X0) // 5) - 4
        for k, frame in enumerate(range(first, first + 3)):
            lon, lat = lonlat([x + 0.1 * k], [Y0 - 1.5])
            rows.append(dict(frame_index=frame, code=code, name=code, confidence=0.6, x1=0, y1=0, x2=1, y2=1,
                             lat=lat[0], lon=lon[0], forward_m=20.0 - 5 * k, right_m=1.5, distance_m=20.0 - 5 * k,
                             width_m=0.6, length_m=0.5, heading=90.0))
    return pd.DataFrame(rows, columns=[*OBSERVATION_COLUMNS, "heading"])


def known(*rows):
    """Stored defects as the store reads them near a survey: (id, code, x, status)."""
    out = []
    for defect_id, code, x, status in rows:
        lon, lat = lonlat([x], [Y0 - 1.5])
        out.append(dict(id=defect_id, code=code, name=code, family="pothole", lon=lon[0], lat=lat[0],
                        segment_id=None, road_name="Skolevej", road_class="local", chainage_m=x - X0,
                        side="right", offset_m=1.5, on_network=1, width_m=0.6, length_m=0.5, area_m2=0.3, n_obs=3,
                        n_surveys=1, max_confidence=0.6, mean_confidence=0.6, severity=3, priority=50.0,
                        status=str(status), first_seen=T0 - pd.Timedelta(days=30),
                        last_seen=T0 - pd.Timedelta(days=30)))
    return pd.DataFrame(out)


def with_segments(table, network):
    road = network.segments.iloc[0]["segment_id"] if len(network.segments) else None
    return table.assign(segment_id=road)


def test_a_first_survey_inserts_one_open_defect_per_pothole(network):
    changes = plan_defect_changes(observations(("D40", X0 + 100), ("D40", X0 + 200)), frames(), known(),
                                  network, MappingOptions().resolved(), survey_id=1)
    assert len(changes.inserts) == 2 and not len(changes.updates) and not len(changes.status_changes)
    assert set(changes.inserts["status"]) == {"open"} and set(changes.inserts["note"]) == {"found by survey"}
    assert sorted(map(sorted, changes.inserts["obs_rows"])) == [[0, 1, 2], [3, 4, 5]]
    assert changes.inserts["evidence_row"].notna().all()
    assert changes.inserts["lon"].between(10, 11).all() and changes.inserts["severity"].between(1, 5).all()
    assert list(changes.coverage.columns) == COVERAGE_COLUMNS and len(changes.coverage) == 1
    assert changes.rate_segments == list(changes.coverage["segment_id"])
    assert len(changes.observation_snaps) == 6 and (changes.observation_snaps["on_network"] == 1).all()
    counts = changes.counts()
    assert (counts.new, counts.updated, counts.reopened, counts.not_reobserved) == (2, 0, 0, 0)


def test_a_resurvey_reopens_fixed_marks_unseen_and_leaves_decisions_alone(network):
    stored = with_segments(known(
        (11, "D40", X0 + 100, DefectStatus.FIXED),           # seen again -> reopened
        (12, "D40", X0 + 200, DefectStatus.NOT_REOBSERVED),  # seen again -> open
        (13, "D40", X0 + 250, DefectStatus.OPEN),            # in view, not seen -> not re-observed
        (14, "D40", X0 + 270, DefectStatus.DISMISSED),       # in view, not seen: a person's decision stays
        (15, "D40", X0 + 50, DefectStatus.SCHEDULED),        # in view, not seen -> not re-observed
    ), network)
    changes = plan_defect_changes(observations(("D40", X0 + 100.3), ("D40", X0 + 200.2)), frames(), stored,
                                  network, MappingOptions().resolved(), survey_id=2)
    assert not len(changes.inserts) and sorted(changes.updates["defect_id"]) == [11, 12]
    got = changes.status_changes.set_index("defect_id")
    assert got.loc[11, "status"] == "open" and got.loc[11, "change"] == REOPENED
    assert got.loc[12, "status"] == "open" and got.loc[12, "change"] == SEEN_AGAIN
    assert got.loc[13, "status"] == got.loc[15, "status"] == "not re-observed"
    assert 14 not in got.index
    assert (changes.updates["n_surveys"] == 2).all()
    counts = changes.counts()
    assert (counts.new, counts.updated, counts.reopened, counts.not_reobserved) == (0, 2, 1, 2)


def test_defects_out_of_view_are_not_marked(network):
    side = network.segments.iloc[1]
    x, y = side.geometry.interpolate(50).coords[0]
    lon, lat = lonlat([x], [y])
    stored = known((21, "D40", X0, DefectStatus.OPEN)).assign(lon=lon[0], lat=lat[0],
                                                             segment_id=side["segment_id"], chainage_m=50.0)
    changes = plan_defect_changes(observations(), frames(), stored, network, MappingOptions().resolved())
    assert not len(changes.status_changes) and not len(changes.inserts) and not len(changes.updates)


def test_a_survey_that_placed_nothing_marks_nothing_not_reobserved(network):
    """A camera profile with a NaN offset once placed 0 of 69 detections and marked 28 of 33 open
    defects "not re-observed": detections that could not be placed say nothing about the road."""
    stored = with_segments(known((31, "D40", X0 + 100, DefectStatus.OPEN), (32, "D40", X0 + 250, DefectStatus.SCHEDULED)),
                           network)
    unplaced = observations(("D40", X0 + 150)).assign(lat=np.nan, lon=np.nan)
    assert placed_nothing(unplaced) and not placed_nothing(observations()) and not placed_nothing(observations(("D40", X0 + 150)))
    changes = plan_defect_changes(unplaced, frames(), stored, network, MappingOptions().resolved(), survey_id=3)
    assert not len(changes.status_changes) and not len(changes.inserts) and not len(changes.updates)
    assert changes.counts().not_reobserved == 0
    # the same survey with nothing detected at all still tells: the defects in view are gone
    nothing = plan_defect_changes(observations(), frames(), stored, network, MappingOptions().resolved(), survey_id=3)
    assert sorted(nothing.status_changes["defect_id"]) == [31, 32]


def test_status_changes_follow_the_rules_for_every_status():
    every = list(DefectStatus)
    ids = np.arange(len(every))
    seen = pd.DataFrame({"defect_id": ids, "status": [str(s) for s in every]})
    unseen = pd.DataFrame({"defect_id": ids + 100, "status": [str(s) for s in every]})
    out = status_changes(seen, unseen).set_index("defect_id")
    by_status = {str(s): i for i, s in enumerate(every)}
    assert out.loc[by_status["fixed"], "change"] == REOPENED
    assert out.loc[by_status["not re-observed"], "change"] == SEEN_AGAIN
    assert set(out.index[out["change"] == UNSEEN] - 100) == {by_status["open"], by_status["verified"],
                                                             by_status["scheduled"]}
    # seen open/verified/scheduled/dismissed/not an issue and unseen fixed/dismissed/not an issue/not
    # re-observed: no change
    assert len(out) == 5


def test_the_search_box_surrounds_the_frames():
    f = frames()
    minx, miny, maxx, maxy = search_bbox(f)
    assert minx < f["lon"].min() and maxx > f["lon"].max() and miny < f["lat"].min() and maxy > f["lat"].max()


def test_condition_rows_from_plain_frames(network):
    road = network.segments.iloc[[0]]
    active = pd.DataFrame({"code": ["D40", "D40"], "segment_id": road["segment_id"].iloc[0],
                           "chainage_m": [10.0, 150.0], "severity": [5, 3], "on_network": [1, 1]})
    covered = pd.DataFrame({"segment_id": road["segment_id"], "start_m": [0.0], "end_m": [300.0]})
    rows = condition_table(road, active, covered)
    assert list(rows.columns) == CONDITION_COLUMNS
    whole = rows[rows["level"] == "segment"].iloc[0]
    assert whole["n_defects"] == 2 and whole["condition"] is not None and whole["road_name"] == "Skolevej"
    assert (rows["level"] == "bin").sum() == 15
    assert all(w.startswith("LINESTRING (10.") for w in rows["geometry_wkt"])  # WGS84, Odense
    assert list(condition_table(road.iloc[0:0], active, covered).columns) == CONDITION_COLUMNS
