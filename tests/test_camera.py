"""Camera geometry: projections must invert each other and match hand-computed cases."""

import math

import numpy as np
import pytest

from roadscan.geo.camera import CameraProfile


def cam(**kw):
    mount = dict(mount_height_m=1.3, pitch_deg=8.0) | kw
    return CameraProfile.from_hfov("t", 1280, 720, 90.0, **mount)


def test_level_camera_hand_computed():
    c = CameraProfile.from_hfov("t", 1000, 500, 90.0, mount_height_m=1.0, pitch_deg=0.0)
    # fx = 500; a point 10 m ahead on the ground is 1 m below the axis: v = cy + 500 * 1/10.
    u, v = c.ground_to_pixel(10.0, 0.0)
    assert u == pytest.approx(500.0) and v == pytest.approx(250.0 + 50.0)
    f, r = c.pixel_to_ground(500.0 + 50.0, 300.0)  # 50 px right at that row: 1 m right
    assert f == pytest.approx(10.0) and r == pytest.approx(1.0)


@pytest.mark.parametrize("extra", [{}, {"roll_deg": 3.0}, {"k1": -0.08, "k2": 0.01},
                                   {"lateral_offset_m": 0.4, "forward_offset_m": 1.2}])
def test_round_trip(extra):
    c = cam(**extra)
    forward = np.array([3.0, 5.0, 12.0, 25.0, 40.0])
    right = np.array([-3.0, 0.5, 2.0, -1.0, 4.0])
    u, v = c.ground_to_pixel(forward, right)
    f2, r2 = c.pixel_to_ground(u, v)
    np.testing.assert_allclose(f2, forward, atol=1e-6)
    np.testing.assert_allclose(r2, right, atol=1e-6)


def test_above_horizon_is_nan_and_horizon_row():
    c = cam()
    assert c.horizon_row == pytest.approx(360 - c.fy * math.tan(math.radians(8.0)))
    f, r = c.pixel_to_ground([640, 640], [c.horizon_row - 5, c.horizon_row + 5])
    assert np.isnan(f[0]) and np.isnan(r[0])
    assert f[1] > 50  # just below the horizon is far away
    u, v = c.ground_to_pixel(-5.0, 0.0)  # behind the camera
    assert np.isnan(u) and np.isnan(v)


def test_calibration_from_horizon_row():
    truth = cam(pitch_deg=11.0)
    guessed = cam(pitch_deg=0.0).calibrated(truth.horizon_row)
    assert guessed.pitch_deg == pytest.approx(11.0)


def test_for_image_scales_intrinsics_not_geometry():
    c = cam()
    half = c.for_image(640, 360)
    u, v = c.ground_to_pixel(10.0, 1.0)
    u2, v2 = half.ground_to_pixel(10.0, 1.0)
    assert u2 == pytest.approx(u / 2) and v2 == pytest.approx(v / 2)
    assert c.for_image(1280, 720) is c
