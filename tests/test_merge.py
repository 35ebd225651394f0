"""Merging sightings into defects, and new defects into known ones, on hand-built tables.

The road is segment S1 along the x axis (chainage = x, offset = y, metres); the vehicle drives it at
3 m per frame and sees a defect when it is 3-25 m ahead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from roadscan.geo.merge import MergeTolerance, coverage_mask, merge_into_existing, merge_observations

T0 = pd.Timestamp("2025-05-01 10:00", tz="UTC")


def sightings(defects, frames=range(0, 15), *, survey=1, jitter=0.5, seed=0, first_id=0, segment="S1",
              confidence=0.7, frame_step=6):
    """Observations of `defects` [(code, chainage, offset, width, length)] from a vehicle on S1.

    frame_index counts raw video frames (`frame_step` apart), as the pipeline writes them.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for f in frames:
        vehicle = 3.0 * f
        for code, chainage, offset, width, length in defects:
            d = chainage - vehicle
            if 3 <= d <= 25:
                x, y = chainage + rng.uniform(-jitter, jitter), offset + rng.uniform(-jitter, jitter) / 2
                rows.append(dict(survey_id=survey, frame_index=f * frame_step, time=T0 + pd.Timedelta(seconds=0.3 * f),
                                 code=code, confidence=confidence, x=x, y=y, width_m=width, length_m=length,
                                 distance_m=d, segment_id=segment, road_name="Skolevej", road_class="local",
                                 chainage_m=x, side="right" if y >= 0 else "left", offset_m=y, on_network=True))
    table = pd.DataFrame(rows)
    table.insert(0, "obs_id", np.arange(first_id, first_id + len(table)))
    return table


POTHOLE = ("D40", 40.0, 1.0, 0.5, 0.4)


def test_five_sightings_of_one_pothole_with_jitter_are_one_defect():
    obs = sightings([POTHOLE], frames=range(6, 11))
    assert len(obs) == 5
    defects = merge_observations(obs, crs="EPSG:25832")
    assert len(defects) == 1
    d = defects.iloc[0]
    assert d["code"] == "D40" and d["name"] == "pothole" and d["family"] == "pothole"
    assert d["n_obs"] == 5 and sorted(d["obs_ids"]) == obs["obs_id"].tolist()
    assert d["chainage_m"] == pytest.approx(40.0, abs=0.5)
    assert d["offset_m"] == pytest.approx(1.0, abs=0.25)
    assert d["segment_id"] == "S1" and d["road_name"] == "Skolevej" and bool(d["on_network"])
    assert d["width_m"] == pytest.approx(0.5) and d["area_m2"] == pytest.approx(0.2)
    assert d["first_seen"] == obs["time"].min() and d["last_seen"] == obs["time"].max()
    assert d["defect_key"] == f"1:{obs['obs_id'].min()}"
    assert defects.crs == "EPSG:25832" and defects.geometry.iloc[0].x == pytest.approx(d["x"])


def test_two_potholes_6_m_apart_over_the_same_frames_are_two():
    obs = sightings([POTHOLE, ("D40", 46.0, 1.0, 0.5, 0.4)])
    defects = merge_observations(obs).sort_values("chainage_m")
    assert len(defects) == 2
    assert defects["chainage_m"].to_numpy() == pytest.approx([40.0, 46.0], abs=0.5)
    assert defects["n_obs"].sum() == len(obs)


def test_two_potholes_6_m_apart_stay_two_when_poor_gps_widens_the_tolerance_beyond_6_m():
    obs = sightings([POTHOLE, ("D40", 46.0, 1.0, 0.5, 0.4)], jitter=1.0)
    obs["gps_accuracy_m"] = 5.0  # tolerance max(2, 2 x 5) = 10 m: only the same-frame rule separates them
    defects = merge_observations(obs).sort_values("chainage_m")
    assert len(defects) == 2
    assert defects["chainage_m"].to_numpy() == pytest.approx([40.0, 46.0], abs=1.0)


def test_distinct_defects_are_not_chained_through_a_sequence():
    # potholes every 6 m along the road: the sightings form a continuous band of positions
    obs = sightings([("D40", c, 1.0, 0.5, 0.4) for c in (40.0, 46.0, 52.0, 58.0)], frames=range(0, 25))
    assert len(merge_observations(obs)) == 4


def test_a_crack_seen_as_d00_in_some_frames_and_d10_in_others_is_one_defect():
    obs = sightings([("D00", 40.0, 0.5, 0.4, 2.0)], frames=range(6, 12))
    obs.loc[obs.index[:2], "code"] = "D10"
    defects = merge_observations(obs)
    assert len(defects) == 1
    assert defects.iloc[0]["code"] == "D00"  # the class with the most summed confidence
    assert defects.iloc[0]["family"] == "crack"


def test_d00_and_d10_boxes_on_one_crack_in_the_same_frames_are_one_defect():
    a = sightings([("D00", 40.0, 0.5, 0.4, 2.0)], frames=range(6, 11))
    b = sightings([("D10", 40.0, 0.5, 0.4, 2.0)], frames=range(6, 11), seed=1, first_id=100, confidence=0.9)
    defects = merge_observations(pd.concat([a, b]))
    assert len(defects) == 1
    assert defects.iloc[0]["code"] == "D10" and defects.iloc[0]["n_obs"] == 10


def test_a_pothole_and_the_alligator_crack_around_it_are_one_defect():
    """Issue 17: four painted potholes were stored twice, as a pothole and a co-located alligator crack."""
    crack = sightings([("D20", 40.6, 1.2, 1.5, 3.0)], frames=range(6, 11), seed=3, first_id=100, confidence=0.9)
    obs = pd.concat([sightings([POTHOLE], frames=range(6, 11)), crack])
    defects = merge_observations(obs)
    assert len(defects) == 1
    d = defects.iloc[0]
    assert d["code"] == "D40" and d["family"] == "pothole"  # the class crews act on, though the crack scored more
    assert d["other_classes"] == "D20" and d["n_obs"] == 10 and sorted(d["obs_ids"]) == sorted(obs["obs_id"])
    assert d["chainage_m"] == pytest.approx(40.0, abs=0.5) and d["width_m"] == pytest.approx(0.5)  # the pothole's
    assert d["max_confidence"] == pytest.approx(0.9)


def test_other_classes_list_every_other_class_seen_at_the_spot():
    obs = sightings([("D00", 40.0, 0.5, 0.4, 2.0)], frames=range(6, 12))
    obs.loc[obs.index[:2], "code"] = "D10"
    assert merge_observations(obs).iloc[0]["other_classes"] == "D10"
    assert merge_observations(sightings([POTHOLE], frames=range(6, 11))).iloc[0]["other_classes"] is None


def test_a_pothole_6_m_from_a_crack_stays_apart_from_it():
    obs = sightings([POTHOLE, ("D00", 46.0, 1.0, 0.4, 1.5)], frames=range(6, 11))
    defects = merge_observations(obs)
    assert sorted(defects["family"]) == ["crack", "pothole"]


def test_two_potholes_in_one_large_crack_stay_two_potholes():
    obs = sightings([POTHOLE, ("D40", 42.0, 1.0, 0.5, 0.4), ("D20", 41.0, 1.0, 2.5, 5.0)], frames=range(4, 12))
    defects = merge_observations(obs).sort_values("chainage_m")
    assert defects["code"].tolist() == ["D40", "D40"]
    assert defects["other_classes"].tolist().count("D20") == 1  # the crack joins one of them, not both


def test_off_network_sightings_group_by_plain_distance():
    obs = sightings([POTHOLE, ("D40", 52.0, 1.0, 0.5, 0.4)])
    obs[["segment_id", "road_name", "road_class", "side"]] = None
    obs[["chainage_m", "offset_m"]] = np.nan
    obs["on_network"] = False
    defects = merge_observations(obs).sort_values("x")
    assert len(defects) == 2
    assert defects["x"].to_numpy() == pytest.approx([40.0, 52.0], abs=0.5)
    assert defects["segment_id"].isna().all() and not defects["on_network"].any()
    # no snap columns at all (no network given) reads the same
    bare = obs.drop(columns=["segment_id", "road_name", "road_class", "chainage_m", "side", "offset_m", "on_network"])
    assert len(merge_observations(bare)) == 2


def test_sightings_beyond_the_snap_tolerance_group_by_plain_distance_and_keep_the_nearest_road():
    # snap names the nearest road even for points off the network; chainage there means little
    obs = sightings([POTHOLE, ("D40", 52.0, 1.0, 0.5, 0.4)], frames=range(0, 17))
    obs["on_network"] = False
    obs["chainage_m"] = 0.0  # were chainage used, everything would collapse into one defect
    defects = merge_observations(obs)
    assert len(defects) == 2
    assert not defects["on_network"].any() and (defects["segment_id"] == "S1").all()


def test_a_defect_at_a_junction_snapped_to_two_segments_is_one_defect():
    obs = sightings([POTHOLE], frames=range(6, 12))
    obs.loc[obs.index[:2], "segment_id"] = "S2"  # the first, far sightings snapped to the crossing road
    obs.loc[obs.index[:2], "chainage_m"] = 3.0
    defects = merge_observations(obs)
    assert len(defects) == 1
    assert defects.iloc[0]["segment_id"] == "S1"
    assert defects.iloc[0]["chainage_m"] == pytest.approx(40.0, abs=0.5)  # averaged on S1 only


def test_near_sightings_weigh_more_in_the_position():
    obs = sightings([POTHOLE], frames=range(6, 8), jitter=0.0)
    obs["x"] = obs["chainage_m"] = [41.5, 40.0]  # the far sighting (d=22) is 1.5 m off, the near one (d=19) exact
    obs["distance_m"] = [22.0, 4.0]
    d = merge_observations(obs).iloc[0]
    assert 40.0 < d["x"] < 40.5


def test_a_second_pass_in_the_same_survey_rejoins_the_defect():
    first = sightings([POTHOLE], frames=range(6, 11))
    between = sightings([("D40", 400.0, 1.0, 0.5, 0.4)], frames=range(126, 131), first_id=50)  # elsewhere
    again = sightings([POTHOLE], frames=range(6, 11), seed=3, first_id=100)
    again["frame_index"] += 5000
    again["time"] += pd.Timedelta(minutes=4)
    defects = merge_observations(pd.concat([first, between, again]))
    assert len(defects) == 2
    assert defects.set_index("chainage_m").sort_index()["n_obs"].tolist() == [10, 5]


def test_surveys_are_merged_separately():
    a = sightings([POTHOLE], frames=range(6, 11))
    b = sightings([POTHOLE], frames=range(6, 11), survey=2, first_id=100)
    defects = merge_observations(pd.concat([a, b]))
    assert sorted(defects["survey_id"]) == [1, 2]


def test_defect_keys_do_not_depend_on_row_order():
    obs = sightings([POTHOLE, ("D40", 46.0, 1.0, 0.5, 0.4), ("D00", 40.0, 1.0, 0.4, 2.0)])
    one = merge_observations(obs).set_index("defect_key")
    two = merge_observations(obs.sample(frac=1.0, random_state=4)).set_index("defect_key")
    assert sorted(one.index) == sorted(two.index)
    assert two.loc[one.index, "n_obs"].tolist() == one["n_obs"].tolist()


def test_empty_observations_give_an_empty_table_with_the_columns():
    empty = sightings([POTHOLE]).iloc[0:0]
    defects = merge_observations(empty)
    assert len(defects) == 0 and {"defect_key", "code", "n_obs", "obs_ids"} <= set(defects.columns)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="distance_m"):
        merge_observations(sightings([POTHOLE]).drop(columns="distance_m"))


def test_wider_tolerance_merges_what_the_default_keeps_apart():
    # two potholes 4 m apart seen in disjoint frames: only distance separates them
    # (default along tolerance here: 2 + 0.5 x 0.4 footprint + 0.05 x 19 m range = 3.15 m)
    a = sightings([POTHOLE], frames=range(6, 8), jitter=0.0)
    b = sightings([("D40", 44.0, 1.0, 0.5, 0.4)], frames=range(12, 14), jitter=0.0, first_id=50)
    obs = pd.concat([a, b])
    assert len(merge_observations(obs)) == 2
    assert len(merge_observations(obs, tolerance=MergeTolerance(min_along_m=5.0))) == 1


# ------------------------------------------------------------------------------------- across surveys

def known(defects):
    """Defects as the store would hand them back, with ids."""
    return defects.assign(defect_id=np.arange(101, 101 + len(defects)))


def test_a_second_survey_seeing_the_defect_updates_it_and_inserts_nothing():
    first = merge_observations(sightings([POTHOLE], frames=range(6, 11)))
    obs2 = sightings([("D40", 40.8, 1.3, 0.7, 0.6)], frames=range(5, 12), survey=2, first_id=500, seed=9)
    obs2["time"] += pd.Timedelta(days=30)
    second = merge_observations(obs2)
    result = merge_into_existing(known(first), second, covered=pd.DataFrame(
        {"segment_id": ["S1"], "start_m": [0.0], "end_m": [100.0]}))
    assert len(result.inserts) == 0 and len(result.not_reobserved) == 0
    assert len(result.updates) == 1
    u = result.updates.iloc[0]
    assert u["defect_id"] == 101 and u["defect_key"] == second.iloc[0]["defect_key"]
    assert u["n_obs"] == first.iloc[0]["n_obs"] + second.iloc[0]["n_obs"]
    assert u["n_surveys"] == 2
    assert u["first_seen"] == first.iloc[0]["first_seen"] and u["last_seen"] == second.iloc[0]["last_seen"]
    assert u["width_m"] == pytest.approx(0.7)  # the latest survey's size
    assert first.iloc[0]["x"] < u["x"] < second.iloc[0]["x"]  # averaged over surveys
    assert sorted(u["obs_ids"]) == obs2["obs_id"].tolist()


def test_unseen_defects_inside_the_covered_stretch_are_not_reobserved_and_outside_untouched():
    old = merge_observations(sightings([POTHOLE, ("D00", 70.0, -1.0, 0.3, 3.0), ("D40", 150.0, 1.0, 0.5, 0.4)],
                                       frames=range(0, 60)))
    existing = known(old.sort_values("chainage_m").reset_index(drop=True))  # 101 @40, 102 @70, 103 @150
    new = merge_observations(sightings([POTHOLE], frames=range(6, 11), survey=2, first_id=900))
    covered = pd.DataFrame({"segment_id": ["S1", "S1"], "start_m": [0.0, 60.0], "end_m": [60.0, 100.0]})
    result = merge_into_existing(existing, new, covered)
    assert result.updates["defect_id"].tolist() == [101]
    assert result.not_reobserved.tolist() == [102]  # in view, not seen: a candidate for "repaired"
    assert len(result.inserts) == 0  # 103 outside the stretch: in no output at all

    # the same with the covered stretch given as a buffered track
    track = shapely.LineString([(0, 0), (100, 0)]).buffer(6.0)
    assert merge_into_existing(existing, new, track).not_reobserved.tolist() == [102]
    assert coverage_mask(existing, ["S1"]).all()


def test_matching_is_one_to_one_and_by_family():
    existing = known(merge_observations(sightings([POTHOLE], frames=range(6, 11))))
    new = merge_observations(sightings([("D40", 39.0, 1.0, 0.5, 0.4), ("D40", 42.0, 1.0, 0.5, 0.4),
                                        ("D00", 43.0, -1.0, 0.3, 1.0)], frames=range(4, 12), survey=2))
    assert len(new) == 3
    result = merge_into_existing(existing, new, covered=None)
    assert len(result.updates) == 1 and len(result.inserts) == 2
    assert sorted(result.inserts["family"]) == ["crack", "pothole"]
    assert result.updates.iloc[0]["defect_key"] in set(new.loc[new["family"] == "pothole", "defect_key"])


def test_a_later_survey_seeing_only_the_crack_around_a_known_pothole_updates_the_pothole():
    existing = known(merge_observations(sightings([POTHOLE], frames=range(6, 11))))
    new = merge_observations(sightings([("D20", 40.5, 1.1, 1.5, 3.0)], frames=range(6, 11), survey=2, first_id=50))
    result = merge_into_existing(existing, new, covered=None)
    assert len(result.inserts) == 0 and result.updates["defect_id"].tolist() == [101]
    u = result.updates.iloc[0]
    assert u["code"] == "D40" and u["other_classes"] == "D20"
    assert u["width_m"] == pytest.approx(0.5)  # still the pothole's size, not the crack's


def test_no_existing_defects_inserts_everything():
    new = merge_observations(sightings([POTHOLE], frames=range(6, 11)))
    result = merge_into_existing(new.iloc[0:0].assign(defect_id=[]), new, covered=None)
    assert len(result.inserts) == 1 and len(result.updates) == 0 and len(result.not_reobserved) == 0
