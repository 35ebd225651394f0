"""Ground positions and sizes from boxes: checked against defects placed on the ground by hand."""

import numpy as np
import pandas as pd
import pytest

from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.locate import ground_footprint, locate, vehicle_to_world


def box_of_ground_rect(camera, forward, right, width, length):
    corners_f = np.array([forward - length / 2, forward - length / 2, forward + length / 2, forward + length / 2])
    corners_r = np.array([right - width / 2, right + width / 2, right - width / 2, right + width / 2])
    u, v = camera.ground_to_pixel(corners_f, corners_r)
    return [u.min(), v.min(), u.max(), v.max()]


@pytest.mark.parametrize("forward, right", [(6.0, 0.0), (10.0, 1.5), (20.0, -2.0)])
def test_footprint_recovers_position_and_size(forward, right):
    cam = load_profile("sample-drive")
    box = box_of_ground_rect(cam, forward, right, width=0.8, length=1.2)
    fp = ground_footprint(cam, np.array([box])).iloc[0]
    assert fp.forward_m == pytest.approx(forward, abs=0.05 * forward)
    assert fp.right_m == pytest.approx(right, abs=0.15)
    assert fp.length_m == pytest.approx(1.2, rel=0.1)
    # The near edge of a box is as wide as the rectangle; off-axis rectangles look a little wider.
    assert fp.width_m == pytest.approx(0.8, rel=0.25)
    assert fp.far_edge_known


def test_box_reaching_horizon_falls_back_to_near_edge():
    cam = load_profile("sample-drive")
    fp = ground_footprint(cam, np.array([[400, cam.horizon_row - 20, 500, 400]])).iloc[0]
    near, _ = cam.pixel_to_ground(450, 400)
    assert not fp.far_edge_known and fp.forward_m == pytest.approx(near) and np.isnan(fp.length_m)


@pytest.mark.parametrize("heading, expected", [(0, (1.0, 10.0)), (90, (10.0, -1.0)), (180, (-1.0, -10.0)),
                                               (270, (-10.0, 1.0))])
def test_vehicle_to_world_headings(heading, expected):
    x, y = vehicle_to_world(0.0, 0.0, heading, 10.0, 1.0)  # 10 m ahead, 1 m right
    assert (float(x), float(y)) == pytest.approx(expected, abs=1e-9)


def test_locate_gives_lat_lon_in_wgs84():
    cam = load_profile("sample-drive")
    box = box_of_ground_rect(cam, 10.0, 0.0, 0.5, 0.5)
    table = pd.DataFrame([dict(x1=box[0], y1=box[1], x2=box[2], y2=box[3], x=385000.0, y=6672000.0, heading=0.0)])
    out = locate(table, cam, "EPSG:32635").iloc[0]
    assert out.ground_y == pytest.approx(6672010.0, abs=0.5)
    assert 60.1 < out.lat < 60.2 and 24.9 < out.lon < 25.0  # central Helsinki
    assert out.distance_m == pytest.approx(10.0, abs=0.5)
