"""Frame sampling by distance: one frame every few metres, and a reason for every frame not kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyproj import Transformer

from roadscan.core.errors import ConfigError
from roadscan.geo.sampling import REASONS, sample_by_distance
from roadscan.geo.track import Track

T0 = pd.Timestamp("2024-05-01 10:00:00", tz="UTC")
UTM32 = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)


def fixes_from_xy(t_s, x, y, **extra) -> pd.DataFrame:
    """Fixes at seconds t_s after T0, positions in metres east/north (UTM 32 grid) of a point in Zealand."""
    lon, lat = UTM32.transform(600_000.0 + np.asarray(x, float), 6_150_000.0 + np.asarray(y, float))
    return pd.DataFrame({"time": T0 + pd.to_timedelta(np.asarray(t_s, float), unit="s"), "lat": lat, "lon": lon,
                         **extra})


COLUMNS = ["frame", "time", "keep", "reason", "distance", "lat", "lon", "x", "y", "heading", "grid_heading",
           "speed"]


def frame_times(start_s: float, end_s: float, fps: float = 30.0) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(T0 + pd.to_timedelta(np.arange(start_s, end_s, 1 / fps), unit="s"))


def straight_track(seconds: float = 20.0, speed: float = 10.0) -> Track:
    t = np.arange(0, seconds + 1)
    return Track.from_fixes(fixes_from_xy(t, speed * t, 0 * t), source="drive.gpx", format="gpx")


def test_one_frame_every_spacing_metres_nearest_each_mark():
    plan = sample_by_distance(frame_times(0, 20), straight_track(), spacing_m=3.0)
    assert list(plan.columns) == COLUMNS
    assert len(plan) == 600 and (plan["frame"] == np.arange(600)).all()
    kept = plan[plan["keep"]]
    assert kept["frame"].iloc[0] == 0  # the first moving frame
    assert len(kept) == 67  # marks 0, 3, ..., 198 m along 199.67 m of frames
    marks = 3.0 * np.arange(67)
    step = 10 / 30  # metres between frames
    assert np.abs(kept["distance"].to_numpy() - marks).max() <= step / 2 + 1e-9  # nearest frame: within half a step
    assert set(plan["reason"]) == {"sampled", "between samples"}
    assert (plan["reason"] == "sampled").equals(plan["keep"])
    assert kept["grid_heading"].sub(90).abs().max() < 1e-6 and kept["speed"].sub(10).abs().max() < 1e-6


def test_spacing_larger_than_the_frame_step_keeps_every_frame():
    plan = sample_by_distance(frame_times(0, 20, fps=2), straight_track(), spacing_m=3.0)  # frames 5 m apart
    assert plan["keep"].all()


def test_every_frame_not_kept_has_a_reason():
    t = np.r_[np.arange(0, 11.0), np.arange(11, 21.0), np.arange(40, 51.0)]  # moving, standing, gap, moving
    x = np.r_[10 * np.arange(0, 11.0), np.full(10, 100.0), 100 + 10 * np.arange(0, 11.0)]
    tr = Track.from_fixes(fixes_from_xy(t, x, 0 * x), source="drive.gpx", format="gpx")
    times = frame_times(-2, 53, fps=10)
    plan = sample_by_distance(times, tr, spacing_m=5.0)
    secs = (plan["time"] - T0).dt.total_seconds().to_numpy()
    reason = plan["reason"].to_numpy()
    assert set(reason) <= set(REASONS)
    assert (reason[(secs < 0) | (secs > 50)] == "outside the GPS track").all()
    assert (reason[(secs > 21) & (secs < 39)] == "GPS gap").all()
    assert (reason[(secs > 12) & (secs < 19)] == "stationary").all()
    assert plan.loc[plan["reason"] == "outside the GPS track", ["lat", "lon", "distance"]].isna().all().all()
    kept = plan[plan["keep"]]
    assert ((kept["time"] - T0).dt.total_seconds().between(0, 50)).all()
    assert kept["distance"].diff().dropna().min() >= 5.0 - 0.5
    counts = plan["reason"].value_counts()
    assert counts.sum() == len(plan) and counts["sampled"] == len(kept)


def test_naive_frame_times_are_taken_as_utc():
    times = frame_times(0, 5).tz_localize(None)
    plan = sample_by_distance(times, straight_track(), spacing_m=3.0)
    assert str(plan["time"].dt.tz) == "UTC" and plan["keep"].sum() == 17


def test_min_speed_decides_what_is_stationary():
    tr = straight_track(speed=2.0)
    assert (sample_by_distance(frame_times(0, 10), tr, min_speed_mps=3.0)["reason"] == "stationary").all()
    assert not (sample_by_distance(frame_times(0, 10), tr, min_speed_mps=1.0)["reason"] == "stationary").any()


@pytest.mark.parametrize("spacing", [0, -3.0, float("nan"), float("inf"), "three", None])
def test_spacing_must_be_a_positive_number(spacing):
    with pytest.raises(ConfigError, match="spacing"):
        sample_by_distance(frame_times(0, 1), straight_track(), spacing_m=spacing)


def test_negative_min_speed_is_refused():
    with pytest.raises(ConfigError, match="minimum speed"):
        sample_by_distance(frame_times(0, 1), straight_track(), min_speed_mps=-1)


def test_single_photo_track_keeps_its_frame_even_when_standing():
    f = fixes_from_xy([0.0], [0.0], [0.0], speed_mps=[0.0], heading_deg=[45.0])
    tr = Track.from_fixes(f, source="photo.jpg", format="exif", min_fixes=1)
    plan = sample_by_distance(pd.DatetimeIndex([T0]), tr)
    assert plan["keep"].tolist() == [True] and plan["heading"].iloc[0] == 45.0
    far = sample_by_distance(pd.DatetimeIndex([T0 + pd.Timedelta(minutes=5)]), tr)
    assert far["reason"].tolist() == ["outside the GPS track"]


def test_synthetic_drive_is_sampled_every_three_metres_and_its_stop_skipped():
    from roadscan.sample.drive import plan_drive

    plan = plan_drive(length_m=200.0)
    tr = Track.from_fixes(plan.fixes[["time", "lat", "lon"]], source="drive.gpx", format="gpx")
    out = sample_by_distance(plan.poses["time"], tr, spacing_m=3.0)
    counts = out["reason"].value_counts()
    assert 64 <= counts["sampled"] <= 70  # 200 m / 3 m
    assert counts["stationary"] >= 20  # the 3 s stop at 10 fps
    assert "outside the GPS track" not in counts  # the log starts before and ends after the footage
    standing = plan.poses["speed_mps"].to_numpy() < 0.05
    assert (out["reason"].to_numpy()[standing] == "stationary").mean() > 0.75  # 1 Hz fixes blur the stop's edges
