"""The synthetic sample drive: real streets, truth that matches the pixels, readable files."""

from __future__ import annotations

import json
from datetime import timedelta

import av
import gpxpy
import numpy as np
import pandas as pd
import pytest
import shapely

from roadscan.core.errors import ConfigError
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.locate import vehicle_to_world
from roadscan.sample import world
from roadscan.sample.drive import (CAMERA, LANE_OFFSET_M, START_TIME, SampleDrive, make_sample_drive, plan_drive,
                                   sample_drive_cached)
from roadscan.sample.render import FrameRenderer
from roadscan.sample.route import STEP_M, driving_network
from roadscan.sample.scene import CARRIAGEWAY_HALF_WIDTH_M, MAX_CENTRE_OFFSET_M

SHORT = dict(length_m=150.0)


@pytest.fixture(scope="module")
def plan():
    return plan_drive(**SHORT)


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> SampleDrive:
    return make_sample_drive(tmp_path_factory.mktemp("sample"), **SHORT)


@pytest.fixture(scope="module")
def camera():
    return load_profile(CAMERA)


def test_route_follows_helsinki_streets(plan):
    route = plan.route
    ways = driving_network()
    streets = shapely.union_all(ways.geometry.values)
    centre = shapely.points(route.xy[:: int(1 / STEP_M)])
    gap = shapely.distance(centre, streets)
    assert np.median(gap) < 0.5 and gap.max() < 4.0  # corners are rounded off by a few metres at most
    assert route.names and set(route.names) <= set(ways.name)
    steps = np.hypot(*np.diff(route.xy, axis=0).T)
    assert np.allclose(steps, STEP_M, atol=0.01)  # continuous, evenly sampled
    # The vehicle keeps to its lane, and the GPS fixes cover a little more than the footage.
    vehicle = shapely.points(plan.poses[["x", "y"]].to_numpy())
    assert shapely.distance(vehicle, streets).max() < 4.0 + LANE_OFFSET_M
    assert plan.fixes.t_s.min() < -1 and plan.fixes.t_s.max() > plan.poses.t_s.max() + 1


def test_defects_lie_on_the_carriageway(plan):
    codes = [d.code for d in plan.defects]
    assert set(codes) == {"D00", "D10", "D20", "D40"}
    centreline = plan.route.linestring()
    for d in plan.defects:
        assert abs(d.d) <= MAX_CENTRE_OFFSET_M
        assert shapely.distance(shapely.Point(d.x, d.y), centreline) == pytest.approx(abs(d.d), abs=0.05)
        assert centreline.buffer(CARRIAGEWAY_HALF_WIDTH_M).contains(d.footprint)
        assert d.footprint.contains(shapely.Point(d.x, d.y)) or d.code in {"D00", "D10"}
    sizes = {d.code: max(d.length_m, d.width_m) for d in plan.defects}
    assert 0.4 <= sizes["D40"] <= 1.3 and sizes["D00"] >= 1.5


def test_truth_boxes_agree_with_camera_geometry(plan, camera):
    boxes = plan.boxes.merge(plan.poses[["frame", "x", "y", "heading"]], on="frame")
    assert len(boxes) and boxes.groupby("defect").size().min() >= 5  # every defect seen in several frames
    assert set(boxes.defect) == {d.id for d in plan.defects}
    f, r = camera.pixel_to_ground((boxes.x1 + boxes.x2) / 2, boxes.y2 - 1e-6)
    gx, gy = vehicle_to_world(boxes.x.to_numpy(), boxes.y.to_numpy(), boxes.heading.to_numpy(), f, r)
    footprints = {d.id: d.footprint for d in plan.defects}
    gap = shapely.distance(shapely.points(gx, gy), np.array([footprints[i] for i in boxes.defect]))
    assert gap.max() < 0.5
    # forward_m / right_m are the defect centre in the vehicle frame of that pose.
    centres = {d.id: (d.x, d.y) for d in plan.defects}
    cx, cy = vehicle_to_world(boxes.x.to_numpy(), boxes.y.to_numpy(), boxes.heading.to_numpy(),
                              boxes.forward_m.to_numpy(), boxes.right_m.to_numpy())
    expected = np.array([centres[i] for i in boxes.defect])
    assert np.allclose(np.stack([cx, cy], axis=1), expected, atol=1e-6)
    assert (boxes.x1 >= 0).all() and (boxes.x2 <= camera.width).all() and (boxes.y2 <= camera.height).all()
    assert (boxes.y1 > camera.horizon_row).all()


def test_each_defect_is_painted_inside_its_box_only(plan, camera):
    corridor, surface = world.Corridor(plan.route), world.Surface(plan.params["seed"])
    bare = FrameRenderer(camera, corridor, surface, [])
    by_id = {d.id: d for d in plan.defects}
    sample = plan.boxes.groupby("defect").apply(lambda g: g.iloc[len(g) // 2], include_groups=False)
    for defect_id, box in sample.iterrows():
        pose = plan.poses.loc[plan.poses.frame == box.frame, ["x", "y", "heading"]].to_numpy()[0]
        alone = FrameRenderer(camera, corridor, surface, [by_id[defect_id]])
        changed = np.abs(alone.render(*pose).astype(int) - bare.render(*pose).astype(int)).max(axis=2) > 2
        rows, cols = np.nonzero(changed)
        assert len(rows) > 10, f"defect {defect_id} not drawn"
        assert cols.min() >= box.x1 - 2 and cols.max() <= box.x2 + 2
        assert rows.min() >= box.y1 - 2 and rows.max() <= box.y2 + 2


def test_video_and_gpx_files(drive, plan):
    with av.open(str(drive.video)) as container:
        stream = container.streams.video[0]
        assert container.metadata["creation_time"].startswith("2026-06-01T08:00:00")
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
        assert (stream.codec_context.width, stream.codec_context.height) == (960, 540)
    assert len(times) == drive.n_frames == len(plan.poses)
    assert np.allclose(times, np.arange(len(times)) / drive.fps)
    assert drive.start_time == START_TIME and drive.crs == "EPSG:32635" and drive.camera == CAMERA

    gpx = gpxpy.parse(drive.gpx.read_text(encoding="utf-8"))
    points = [p for track in gpx.tracks for seg in track.segments for p in seg.points]
    end = START_TIME + timedelta(seconds=times[-1])
    assert points[0].time < START_TIME and points[-1].time > end
    assert all(p.time.utcoffset() == timedelta(0) for p in points)
    assert 60.15 < points[0].latitude < 60.19 and 24.92 < points[0].longitude < 24.97

    defects = drive.defects()
    assert len(defects) == plan.params["n_defects"]
    assert set(defects.columns) >= {"id", "code", "lat", "lon", "x", "y", "width_m", "length_m", "polygon"}
    polygons = shapely.from_wkt(defects.polygon.to_numpy())
    assert shapely.contains_xy(polygons.astype(object)[defects.code == "D40"],
                               defects.x[defects.code == "D40"], defects.y[defects.code == "D40"]).all()
    boxes = drive.boxes()
    assert boxes.time.dt.tz is not None and len(boxes) == len(plan.boxes)


def test_potholes_are_darker_than_the_asphalt_around_them(drive):
    boxes = drive.boxes()
    potholes = boxes[boxes.code == "D40"].assign(h=lambda b: b.y2 - b.y1)
    chosen = potholes.sort_values("h").groupby("defect").tail(1)  # each pothole at its largest
    wanted = dict(zip(chosen.frame, chosen.itertuples()))
    seen = 0
    with av.open(str(drive.video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i not in wanted:
                continue
            box = wanted[i]
            grey = frame.to_ndarray(format="gray").astype(float)
            x1, y1, x2, y2 = int(box.x1), int(box.y1), int(np.ceil(box.x2)), int(np.ceil(box.y2))
            w, h = x2 - x1, y2 - y1
            core = grey[y1 + h // 3: y2 - h // 3, x1 + w // 3: x2 - w // 3]
            rows, cols = np.ogrid[:grey.shape[0], :grey.shape[1]]
            near = (rows >= y1 - h) & (rows < y2 + h) & (cols >= x1 - w // 2) & (cols < x2 + w // 2)
            inside = (rows >= y1) & (rows < y2) & (cols >= x1) & (cols < x2)
            assert np.median(core) < 0.7 * np.median(grey[near & ~inside])
            seen += 1
    assert seen == len(wanted) >= 1


def test_vehicle_stops_for_a_few_seconds(plan):
    still = (plan.poses.speed_mps < 1e-9).to_numpy()
    assert still.sum() >= 2.5 * plan.params["fps"]
    run = plan.poses[still]
    assert run.frame.diff().dropna().eq(1).all()  # one stop, consecutive frames
    assert np.ptp(run.x) == 0 and np.ptp(run.y) == 0
    moving = plan.poses[~still].speed_mps
    assert moving.max() == pytest.approx(plan.params["speed_kmh"] / 3.6)


def test_same_seed_same_truth_other_seed_other_truth():
    a, b, c = plan_drive(length_m=80.0, seed=3), plan_drive(length_m=80.0, seed=3), plan_drive(length_m=80.0, seed=4)
    pd.testing.assert_frame_equal(a.boxes, b.boxes)
    pd.testing.assert_frame_equal(a.poses, b.poses)
    assert [d.footprint.wkt for d in a.defects] == [d.footprint.wkt for d in b.defects]
    assert [d.footprint.wkt for d in a.defects] != [d.footprint.wkt for d in c.defects]


def test_cache_generates_once_and_regenerates_when_stale(tmp_path):
    folder = tmp_path / "drive"
    first = sample_drive_cached(folder, length_m=40.0)
    stamp = first.manifest.stat().st_mtime_ns
    again = sample_drive_cached(folder, length_m=40.0)
    assert again.manifest.stat().st_mtime_ns == stamp and again.n_frames == first.n_frames
    manifest = json.loads(first.manifest.read_text())
    manifest["generator_version"] = 0
    first.manifest.write_text(json.dumps(manifest))
    renewed = sample_drive_cached(folder, length_m=40.0)
    assert json.loads(renewed.manifest.read_text())["generator_version"] != 0
    assert not list(tmp_path.glob(".drive.tmp-*"))

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="other files"):
        sample_drive_cached(other, length_m=40.0)
    assert (other / "notes.txt").read_text() == "keep me"


def test_bad_parameters_are_config_errors(tmp_path):
    with pytest.raises(ConfigError):
        plan_drive(length_m=5.0)
    with pytest.raises(ConfigError):
        SampleDrive.load(tmp_path)
