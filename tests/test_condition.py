"""Segment and bin condition from known defects and coverage."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.ops import substring

from roadscan.geo.condition import cut_bins, rate_bins, rate_segments

CRS = "EPSG:25832"


def network():
    """A 100 m straight road S1, a 50 m road S2 bending 90 degrees, and a 60 m side road S3 never driven."""
    return gpd.GeoDataFrame(
        {"segment_id": ["S1", "S2", "S3"], "name": ["Skolevej", "Byvej", "Sidevej"],
         "road_class": ["local", "collector", "access"]},
        geometry=[shapely.LineString([(0, 0), (100, 0)]),
                  shapely.LineString([(100, 0), (130, 0), (130, 20)]),
                  shapely.LineString([(50, 0), (50, 60)])], crs=CRS)


def defects(*rows):
    return pd.DataFrame([dict(code="D40", segment_id=s, chainage_m=c, severity=v) for s, c, v in rows])


DRIVEN = pd.DataFrame({"segment_id": ["S1", "S2"], "start_m": [0.0, 0.0], "end_m": [100.0, 50.0]})


def test_bins_are_cut_every_20_m_with_a_shorter_last_one():
    bins = cut_bins(network(), 20.0)
    assert bins.groupby("segment_id").size().to_dict() == {"S1": 5, "S2": 3, "S3": 3}
    s2 = bins[bins["segment_id"] == "S2"]
    assert s2["start_m"].tolist() == [0, 20, 40] and s2["end_m"].tolist() == [20, 40, 50]
    assert s2.geometry.length.to_numpy() == pytest.approx([20, 20, 10])
    # the bin across the bend keeps the corner vertex, exactly like shapely.ops.substring
    bend = s2.geometry.iloc[1]
    assert list(bend.coords) == [(120.0, 0.0), (130.0, 0.0), (130.0, 10.0)]
    assert bend.equals(substring(network().geometry.iloc[1], 20, 40))


def test_segment_condition_from_weighted_defect_density():
    table = defects(("S1", 10.0, 3), ("S1", 50.0, 1), ("S1", 55.0, 2), ("S2", 5.0, 5), ("S2", 30.0, 4))
    out = rate_segments(network(), table, DRIVEN).set_index("segment_id")
    # S1: weights 4 + 1 + 2 = 7 on 100 m -> index 7 -> class 3 "poor"
    assert out.loc["S1", "n_defects"] == 3 and out.loc["S1", "weighted_defects"] == 7
    assert out.loc["S1", "index_per_100m"] == pytest.approx(7.0)
    assert out.loc["S1", "condition"] == 3 and out.loc["S1", "condition_label"] == "poor"
    # S2: 16 + 8 = 24 on 50 m -> 48 -> class 5
    assert out.loc["S2", "condition"] == 5 and out.loc["S2", "worst_severity"] == 5
    # S3 was not driven: no rating
    assert pd.isna(out.loc["S3", "condition"]) and out.loc["S3", "condition_label"] == "not surveyed"
    assert out.crs == CRS and out.loc["S1", "name"] == "Skolevej"


def test_driven_without_defects_is_good():
    out = rate_segments(network(), defects(), DRIVEN).set_index("segment_id")
    assert out.loc["S1", "condition"] == 1 and out.loc["S1", "condition_label"] == "good"
    assert out.loc["S1", "n_defects"] == 0


def test_bin_condition_counts_and_classes():
    table = defects(("S1", 10.0, 3), ("S1", 50.0, 1), ("S1", 55.0, 2), ("S1", 100.0, 4))
    bins = rate_bins(network(), table, DRIVEN)
    s1 = bins[bins["segment_id"] == "S1"].set_index("bin_index")
    assert s1["n_defects"].tolist() == [1, 0, 2, 0, 1]  # chainage 100 (the end) is in the last bin
    # bin 0: weight 4 on 20 m -> 20 -> 4; bin 2: 1 + 2 = 3 -> 15 -> 4; bin 4: 8 -> 40 -> 5; others good
    assert s1["index_per_100m"].tolist() == pytest.approx([20.0, 0.0, 15.0, 0.0, 40.0])
    assert s1["condition"].tolist() == [4, 1, 4, 1, 5]
    assert set(bins["segment_id"]) == {"S1", "S2"}  # no bins for roads not driven


def test_partly_driven_segment_rates_only_its_driven_bins():
    covered = pd.DataFrame({"segment_id": ["S1", "S1"], "start_m": [0.0, 20.0], "end_m": [25.0, 40.0]})
    seg = rate_segments(network(), defects(("S1", 10.0, 3)), covered).set_index("segment_id")
    assert seg.loc["S1", "covered_m"] == pytest.approx(40.0)  # overlapping passes count once
    assert pd.isna(seg.loc["S1", "condition"])  # 40 % driven < 50 %
    bins = rate_bins(network(), defects(("S1", 10.0, 3)), covered).set_index("bin_index")
    assert bins["condition"].tolist()[:2] == [4, 1]
    assert bins["condition"].isna().tolist() == [False, False, True, True, True]


def test_covered_as_a_track_buffer_does_not_rate_the_crossing_road():
    track = shapely.LineString([(0, 0), (130, 0), (130, 20)]).buffer(6.0)
    out = rate_segments(network(), defects(), track).set_index("segment_id")
    assert out["condition"].tolist()[:2] == [1, 1]
    assert out.loc["S3", "covered_m"] == pytest.approx(6.0)  # 6 of 60 m inside the buffer
    assert pd.isna(out.loc["S3", "condition"])


def test_segment_ids_as_coverage_and_ignored_defects():
    table = pd.concat([defects(("S1", 10.0, 3)),
                       pd.DataFrame([dict(code="Repair", segment_id="S1", chainage_m=30.0, severity=1),
                                     dict(code="D40", segment_id=None, chainage_m=np.nan, severity=5),
                                     dict(code="D40", segment_id="S1", chainage_m=50.0, severity=5,
                                          on_network=False)])])
    out = rate_segments(network(), table, ["S1"]).set_index("segment_id")
    assert out.loc["S1", "n_defects"] == 1  # the repair and the off-network potholes do not count
    assert out.loc["S1", "condition"] == 2  # 4 per 100 m: fair
    assert pd.isna(out.loc["S2", "condition"])


def test_short_stub_uses_the_length_floor(tmp_path):
    stub = gpd.GeoDataFrame({"segment_id": ["X"]}, geometry=[shapely.LineString([(0, 0), (4, 0)])], crs=CRS)
    out = rate_segments(stub, defects(("X", 2.0, 1)), ["X"])
    assert out["index_per_100m"].iloc[0] == pytest.approx(5.0)  # 1 / max(4, 20 m) x 100, not 25
    path = tmp_path / "bands.toml"
    path.write_text("[condition]\nmin_length_m = 0\n")
    assert rate_segments(stub, defects(("X", 2.0, 1)), ["X"], scoring=path)["condition"].iloc[0] == 4
