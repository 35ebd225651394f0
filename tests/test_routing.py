"""Work-list route order over the road network (api/routing.py), on small hand-made networks."""

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from roadscan.api.routing import RoadNetwork, nearest_neighbour, plan_route, road_distances, two_opt

# A local metric frame near Faxe (UTM 32N), turned into the lon/lat the store holds.
TO_LONLAT = Transformer.from_crs(25832, 4326, always_xy=True)
X0, Y0 = 700_000.0, 6_130_000.0


def lonlat(x, y):
    return TO_LONLAT.transform(X0 + x, Y0 + y)


def segments(lines: dict[str, list[tuple[float, float]]]) -> pd.DataFrame:
    rows = []
    for sid, pts in lines.items():
        line = shapely.LineString([lonlat(x, y) for x, y in pts])
        rows.append(dict(segment_id=sid, geometry_wkt=line.wkt, length_m=shapely.LineString(pts).length))
    return pd.DataFrame(rows)


def stops(points, segment_ids=None, chainages=None):
    lon, lat = zip(*(lonlat(x, y) for x, y in points))
    out = pd.DataFrame(dict(lon=lon, lat=lat))
    if segment_ids is not None:
        out["segment_id"], out["chainage_m"] = segment_ids, chainages
    return out


# A hairpin: up the west arm 1 km, across 100 m, down the east arm. The arms are 100 m apart as the
# crow flies but 1-2 km apart by road.
U = {"west": [(0, 0), (0, 1000)], "top": [(0, 1000), (100, 1000)], "east": [(100, 1000), (100, 0)]}


def test_route_follows_the_road_not_the_straight_line():
    # near the start on the west arm, near the bottom of the east arm, high up the west arm
    pts = [(0, 100), (100, 50), (0, 900)]
    st = stops(pts, ["west", "east", "west"], [100.0, 950.0, 900.0])
    route = plan_route(segments(U), st, start=lonlat(0, 0))
    assert list(route.order) == [0, 2, 1]  # up the west arm, round the top, down the east arm
    xy = np.array([(0, 0), *pts], dtype=float)
    crow = nearest_neighbour(np.hypot(*(xy[:, None] - xy[None, :]).transpose(2, 0, 1)))
    assert list(crow[1:] - 1) == [0, 1, 2]  # straight-line order would cross the gap
    assert route.by_road.all()
    assert route.leg_m == pytest.approx([100, 800, 100 + 100 + 950], abs=1.0)
    assert route.total_m == pytest.approx(2050, abs=2.0)


def test_stops_without_a_segment_are_placed_on_the_nearest_road():
    st = stops([(3, 100), (97, 50), (2, 900)])  # a few metres beside the road, no snap stored
    route = plan_route(segments(U), st, start=lonlat(0, 0))
    assert list(route.order) == [0, 2, 1]
    assert route.total_m == pytest.approx(2050, abs=2.0)


def test_junctions_join_segments_and_several_stops_share_a_segment():
    net = RoadNetwork(segments(U))
    assert net.n_nodes == 4
    st = stops([(0, 300), (0, 200), (0, 600)], ["west"] * 3, [300.0, 200.0, 600.0])
    dist, connected = road_distances(net, st.lon, st.lat, st.segment_id, st.chainage_m)
    assert connected.all()
    assert dist == pytest.approx(np.array([[0, 100, 300], [100, 0, 400], [300, 400, 0]]), abs=0.5)
    route = plan_route(segments(U), st)  # no start: from the first stop
    assert list(route.order) == [0, 1, 2] and route.total_m == pytest.approx(100 + 400, abs=1.0)


def test_unconnected_stops_fall_back_to_the_straight_line_and_say_so():
    lines = {"a": [(0, 0), (0, 500)], "b": [(50, 0), (50, 500)]}  # two roads with no junction
    st = stops([(0, 100), (50, 100)], ["a", "b"], [100.0, 100.0])
    route = plan_route(segments(lines), st, start=lonlat(0, 0))
    assert list(route.order) == [0, 1]
    assert list(route.by_road) == [True, False]
    assert route.leg_m[1] == pytest.approx(50 * 1.4, abs=0.5)


def test_two_opt_undoes_a_crossing():
    # points on a line; a tour that zig-zags is straightened
    x = np.array([0, 1, 2, 3, 4, 5], dtype=float)
    dist = np.abs(x[:, None] - x[None, :])
    tour = two_opt(np.array([0, 3, 2, 1, 4, 5]), dist)
    assert list(tour) == [0, 1, 2, 3, 4, 5]


def test_no_stops_is_an_empty_route():
    route = plan_route(segments(U), pd.DataFrame(columns=["lon", "lat"]))
    assert route.total_m == 0 and len(route.order) == 0


def test_a_short_gap_between_stored_segments_is_bridged():
    # the store holds the segments surveys touched: a 4 m stretch nobody covered leaves a gap
    lines = {"a": [(0, 0), (0, 500)], "b": [(0, 504), (0, 1000)]}
    st = stops([(0, 900)], ["b"], [396.0])
    route = plan_route(segments(lines), st, start=lonlat(0, 0))
    assert route.by_road.all() and route.total_m == pytest.approx(900, abs=1.0)
    far = {"a": [(0, 0), (0, 500)], "b": [(0, 600), (0, 1000)]}  # 100 m apart: not the same road
    assert not plan_route(segments(far), stops([(0, 900)], ["b"], [300.0]), start=lonlat(0, 0)).by_road.all()
