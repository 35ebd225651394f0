"""Snapping and linear referencing on hand-made networks where every answer can be worked out by hand."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import LineString, Point

from roadscan.geo.roads import load_network
from roadscan.geo.snap import SNAP_COLUMNS, snap

UTM32 = "EPSG:25832"


@pytest.fixture(scope="module")
def net():
    """A main road through a junction with a side road, and a road with a right-angle bend."""
    main = LineString([(0, 0), (100, 0), (200, 0)])  # west -> east, junction at (100, 0)
    side = LineString([(100, 0), (100, 100)])  # south -> north from the junction
    bend = LineString([(300, 0), (400, 0), (400, 100)])  # east then north: a corner at (400, 0)
    return load_network(gpd.GeoDataFrame(
        {"osm_id": [1, 2, 3], "highway": ["primary", "residential", "service"], "name": ["Main", "Side", "Bend"]},
        geometry=[main, side, bend], crs=UTM32))


def ids(net, source_id, part=0):
    seg = net.segments
    return seg.loc[(seg.source_id == str(source_id)) & (seg.part == part), "segment_id"].item()


def test_chainage_side_and_offset_are_exact(net):
    x = np.array([30.0, 150.0, 101.0, 97.0, 350.0, 405.0])
    y = np.array([3.0, -4.0, 60.0, 20.0, 2.5, 40.0])
    out = snap((x, y), net)
    assert list(out.columns) == list(SNAP_COLUMNS)
    assert list(out.segment_id) == [ids(net, 1, 0), ids(net, 1, 1), ids(net, 2), ids(net, 2), ids(net, 3), ids(net, 3)]
    assert list(out.road_name) == ["Main", "Main", "Side", "Side", "Bend", "Bend"]
    assert out.chainage_m.tolist() == pytest.approx([30, 50, 60, 20, 50, 140])
    assert list(out.side) == ["left", "right", "right", "left", "left", "right"]
    assert out.offset_m.tolist() == pytest.approx([3, 4, 1, 3, 2.5, 5])
    assert out.on_network.all()
    assert out.snap_x.tolist() == pytest.approx([30, 150, 100, 100, 350, 400])
    assert out.snap_y.tolist() == pytest.approx([0, 0, 60, 20, 0, 40])


def test_side_follows_digitised_direction(net):
    """The same place is left of a road drawn one way and right of it drawn the other way."""
    reversed_net = load_network(gpd.GeoDataFrame(
        {"highway": ["primary"]}, geometry=[LineString([(200, 0), (0, 0)])], crs=UTM32))
    point = (np.array([30.0]), np.array([3.0]))
    assert snap(point, net).side.item() == "left"
    out = snap(point, reversed_net)
    assert out.side.item() == "right" and out.chainage_m.item() == pytest.approx(170)


def test_outer_corner_point_snaps_to_the_vertex_with_a_consistent_side(net):
    out = snap((np.array([405.0]), np.array([-5.0])), net).iloc[0]  # outside the corner at (400, 0)
    assert out.chainage_m == pytest.approx(100) and out.offset_m == pytest.approx(np.hypot(5, 5))
    assert out.side == "right"


def test_points_beyond_tolerance_are_kept_flagged_and_still_named(net):
    points = gpd.GeoDataFrame({"kind": ["near", "far", "edge"]},
                              geometry=[Point(50, 10), Point(50, 40), Point(250, 0)], index=[7, 3, 9], crs=UTM32)
    out = snap(points, net, tolerance_m=15)
    assert list(out.index) == [7, 3, 9]
    assert list(out.on_network) == [True, False, False]
    assert list(out.road_name) == ["Main", "Main", "Main"]  # (50, 40) is 40 m from Main, 50 m from Side
    assert out.offset_m.tolist() == pytest.approx([10, 40, 50])
    assert list(out.side) == ["left", "left", pd.NA]  # (250, 0) lies in line with Main's end
    assert snap(points, net, tolerance_m=60).on_network.all()


def test_missing_empty_and_nan_points_give_empty_rows(net):
    points = gpd.GeoSeries([None, Point(), Point(10, 1)], crs=UTM32)
    out = snap(points, net)
    assert list(out.on_network) == [False, False, True]
    assert out.iloc[:2].segment_id.isna().all() and out.iloc[:2].chainage_m.isna().all()
    nan = snap((np.array([np.nan, 10.0]), np.array([1.0, 1.0])), net)
    assert nan.segment_id.isna().tolist() == [True, False]


def test_no_points_give_an_empty_table(net):
    out = snap(gpd.GeoSeries([], crs=UTM32), net)
    assert out.empty and list(out.columns) == list(SNAP_COLUMNS) and out.on_network.dtype == bool


def test_points_in_another_crs_are_reprojected(net):
    metric = gpd.GeoSeries([Point(30, 3), Point(150, -4)], crs=UTM32)
    lonlat = metric.to_crs(4326)
    a, b = snap(metric, net), snap(lonlat, net)
    assert list(a.segment_id) == list(b.segment_id)
    assert b.chainage_m.tolist() == pytest.approx(a.chainage_m.tolist(), abs=1e-6)


def test_heading_picks_the_road_driven_on_at_a_junction(net):
    """Just north-east of the junction: nearer to Side, but a car heading east is on Main."""
    x, y = np.array([100.6, 100.6, 100.6]), np.array([0.8, 0.8, 0.8])
    plain = snap((x, y), net)
    assert set(plain.road_name) == {"Side"}
    out = snap((x, y), net, heading=[90.0, 270.0, np.nan])
    assert list(out.road_name) == ["Main", "Main", "Side"]  # either direction of travel along Main; unknown: nearest
    assert out.chainage_m.iloc[0] == pytest.approx(0.6)  # on Main's second segment
    assert snap((x, y), net, heading=90.0).road_name.tolist() == ["Main"] * 3  # one heading for all
    assert snap((x, y), net, heading=90.0, heading_tie_m=0.1).road_name.tolist() == ["Side"] * 3


def test_heading_may_come_from_a_column(net):
    points = gpd.GeoDataFrame({"heading": [0.0, 90.0]}, geometry=[Point(100.6, 0.8)] * 2, crs=UTM32)
    assert snap(points, net, heading="heading").road_name.tolist() == ["Side", "Main"]


def test_equidistant_point_gets_the_same_answer_every_time(net):
    point = (np.array([100.0 + 5.0]), np.array([5.0]))  # 5 m from both Main and Side
    answers = {snap(point, net).segment_id.item() for _ in range(3)}
    assert len(answers) == 1


def test_matches_brute_force_on_random_points():
    rng = np.random.default_rng(1)
    lines = [LineString(rng.uniform(0, 1000, (4, 2))) for _ in range(60)]
    net = load_network(gpd.GeoDataFrame({"highway": ["residential"] * 60}, geometry=lines, crs=UTM32))
    xy = rng.uniform(0, 1000, (400, 2))
    out = snap((xy[:, 0], xy[:, 1]), net, tolerance_m=20)
    geoms = net.geometries
    points = shapely.points(xy)
    distances = shapely.distance(points[:, None], geoms[None, :])
    assert out.offset_m.to_numpy() == pytest.approx(distances.min(axis=1))
    assert (out.on_network.to_numpy() == (distances.min(axis=1) <= 20)).all()
    chosen = geoms[net.segments.set_index("segment_id").index.get_indexer(out.segment_id)]
    assert out.chainage_m.to_numpy() == pytest.approx(shapely.line_locate_point(chosen, points))
    snapped = shapely.line_interpolate_point(chosen, out.chainage_m.to_numpy())
    assert np.c_[out.snap_x, out.snap_y] == pytest.approx(shapely.get_coordinates(snapped))
    # Side: the point, the snapped point and a point a little further along make a left (CCW) turn.
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(chosen, out.chainage_m.to_numpy() + 1e-3))
    s = shapely.get_coordinates(snapped)
    cross = (ahead[:, 0] - s[:, 0]) * (xy[:, 1] - s[:, 1]) - (ahead[:, 1] - s[:, 1]) * (xy[:, 0] - s[:, 0])
    interior = (out.chainage_m > 0.01) & (out.chainage_m < net.segments.length_m.to_numpy()[
        net.segments.set_index("segment_id").index.get_indexer(out.segment_id)] - 0.01)
    assert (np.where(cross > 0, "left", "right")[interior] == out.side[interior].to_numpy()).all()
