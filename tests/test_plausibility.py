"""Boxes no road defect could make are dropped before they become defects (issue 17), and counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.plausibility import FRAME, HORIZON, RANGE, SIZE, PlausibilityRules, fuse_boxes, implausible, place

CRS = "EPSG:32635"


@pytest.fixture(scope="module")
def camera():
    return load_profile("sample-drive")  # 960 x 540


def box_on_road(camera, forward, right, width, length):
    """The pixel box of a width x length patch of road centred `forward` m ahead, `right` m to the right."""
    f = np.array([forward - length / 2, forward - length / 2, forward + length / 2, forward + length / 2])
    r = np.array([right - width / 2, right + width / 2, right - width / 2, right + width / 2])
    u, v = camera.ground_to_pixel(f, r)
    return [float(u.min()), float(v.min()), float(u.max()), float(v.max())]


def table(rows):
    """Boxes joined to a pose: vehicle at (500000, 6670000) heading north."""
    out = pd.DataFrame(rows, columns=["frame_index", "code", "confidence", "x1", "y1", "x2", "y2"])
    return out.assign(x=500000.0, y=6670000.0, heading=0.0)


def test_a_box_covering_the_whole_frame_is_no_pothole(camera):
    """Issue 17: on the GoPro clip a box over the whole frame became 'pothole, severity 5, 16.55 m²'."""
    boxes = table([(1, "D40", 0.28, 28.8, 36.6, camera.width, camera.height),
                   (1, "D00", 0.6, *box_on_road(camera, 8.0, 0.5, 0.3, 2.0))])
    kept, dropped = place(boxes, camera, CRS)
    assert kept["code"].tolist() == ["D00"] and dropped == {FRAME: 1}
    assert kept["lat"].notna().all() and kept["length_m"].iloc[0] == pytest.approx(2.0, rel=0.05)


def test_each_rule_names_its_box(camera):
    boxes = table([
        (1, "D40", 0.5, *box_on_road(camera, 6.0, 0.0, 0.6, 0.6)),      # a pothole: kept
        (1, "D20", 0.5, *box_on_road(camera, 26.0, 0.0, 2.0, 3.0)),     # beyond 20 m
        (2, "D40", 0.5, *box_on_road(camera, 7.0, 0.0, 2.0, 5.0)),      # a 5 m "pothole"
        (2, "D00", 0.5, 400.0, camera.horizon_row - 80, 440.0, 400.0),  # reaches well above the horizon
        (3, "D10", 0.5, 400.0, 10.0, 440.0, camera.horizon_row - 5),    # wholly above it: kept, unplaced
    ])
    reasons = implausible(pd.concat([boxes, _located(boxes, camera)], axis=1), camera)
    assert reasons.tolist() == [None, RANGE, SIZE, HORIZON, None]
    kept, dropped = place(boxes, camera, CRS)
    assert kept["code"].tolist() == ["D40", "D10"] and kept["lat"].isna().tolist() == [False, True]
    assert dropped == {RANGE: 1, f"pothole {SIZE}": 1, HORIZON: 1}


def test_limits_are_settings(camera):
    boxes = table([(1, "D20", 0.5, *box_on_road(camera, 16.0, 0.0, 2.0, 3.0))])
    assert place(boxes, camera, CRS)[1] == {}
    assert place(boxes, camera, CRS, PlausibilityRules(max_range_m=12.0))[1] == {RANGE: 1}


def test_two_overlapping_boxes_of_one_class_in_one_frame_are_one(camera):
    """The detector left two boxes on one transverse crack (IoU just under its NMS cut): one sighting."""
    boxes = table([(5, "D10", 0.40, 177.0, 410.0, 525.0, 441.0), (5, "D10", 0.46, 47.0, 412.0, 471.0, 448.0),
                   (5, "D40", 0.50, 300.0, 420.0, 340.0, 440.0),   # another class: untouched
                   (6, "D10", 0.30, 600.0, 300.0, 700.0, 320.0), (6, "D10", 0.30, 100.0, 300.0, 200.0, 320.0)])
    fused = fuse_boxes(boxes)
    assert len(fused) == 4
    crack = fused[(fused["frame_index"] == 5) & (fused["code"] == "D10")].iloc[0]
    assert [crack.x1, crack.y1, crack.x2, crack.y2, crack.confidence] == pytest.approx([47, 410, 525, 448, 0.46])
    assert len(fused[fused["frame_index"] == 6]) == 2  # apart in the image: two cracks
    assert fuse_boxes(boxes.iloc[2:3]).equals(boxes.iloc[2:3])


def _located(boxes, camera):
    from roadscan.geo.locate import locate

    return locate(boxes, camera, CRS)
