"""The Track type: validation shared by every GPS reader, and pose (position, heading, speed) per time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from roadscan.core.errors import GPSError
from roadscan.geo.track import Track

T0 = pd.Timestamp("2024-05-01 10:00:00", tz="UTC")
UTM32 = Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)  # Denmark
E0, N0 = 600_000.0, 6_150_000.0


def fixes_from_xy(t_s, x, y, **extra) -> pd.DataFrame:
    """Fixes at seconds t_s after T0, positions in metres east/north of a point in Zealand."""
    lon, lat = UTM32.transform(E0 + np.asarray(x, float), N0 + np.asarray(y, float))
    return pd.DataFrame({"time": T0 + pd.to_timedelta(np.asarray(t_s, float), unit="s"), "lat": lat, "lon": lon,
                         **extra})


def track(fixes: pd.DataFrame, **kw) -> Track:
    return Track.from_fixes(fixes, source="log.gpx", format="gpx", **kw)


def angle_diff(a, b):
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


# --- validation ---------------------------------------------------------------------------------------


def test_bad_records_are_dropped_and_counted_by_reason():
    f = fixes_from_xy(np.arange(10), np.arange(10) * 10.0, np.zeros(10))
    f.loc[1, "lat"] = np.nan
    f.loc[2, "lon"] = 200.0
    f.loc[3, ["lat", "lon"]] = 0.0
    f.loc[4, "time"] = pd.NaT
    f = pd.concat([f, f.iloc[[6]]], ignore_index=True)  # a repeated fix
    f = f.iloc[[0, 5, 7, 6, 8, 9, 10, 1, 2, 3, 4]].reset_index(drop=True)  # 6 after 7: out of order
    tr = track(f)
    assert tr.skipped == {"missing coordinates": 1, "coordinates out of range": 1, "position 0,0 (no fix)": 1,
                          "no time": 1, "out-of-order timestamps (re-sorted, kept)": 2, "duplicate timestamp": 1}
    assert len(tr) == 6
    assert tr.fixes["time"].is_monotonic_increasing and tr.fixes["time"].is_unique
    assert list((tr.fixes["time"] - T0).dt.total_seconds()) == [0, 5, 6, 7, 8, 9]
    assert tr.start == T0 and tr.end == T0 + pd.Timedelta(seconds=9)
    assert str(tr.start.tz) == "UTC"


def test_latitude_beyond_90_is_out_of_range():
    f = fixes_from_xy([0, 1, 2], [0, 10, 20], [0, 0, 0])
    f.loc[1, "lat"] = -91.0
    assert track(f).skipped == {"coordinates out of range": 1}


def test_nothing_usable_raises_naming_the_file_and_the_reasons():
    f = fixes_from_xy([0, 1, 2], [0, 10, 20], [0, 0, 0])
    f["lat"] = np.nan
    with pytest.raises(GPSError) as err:
        track(f)
    text = str(err.value)
    assert "log.gpx" in text and "no usable GPS fixes" in text and "3 missing coordinates" in text
    assert err.value.hint


def test_one_fix_is_not_a_track():
    with pytest.raises(GPSError) as err:
        track(fixes_from_xy([0], [0], [0]))
    assert "only 1 usable GPS fix" in str(err.value) and "log.gpx" in str(err.value)


def test_all_fixes_at_one_time_are_not_a_track():
    f = pd.concat([fixes_from_xy([0], [0], [0])] * 3, ignore_index=True)
    with pytest.raises(GPSError, match="2 duplicate timestamp"):
        track(f)


def test_naive_times_are_utc_and_crs_is_the_local_utm_zone():
    f = fixes_from_xy([0, 1], [0, 10], [0, 0])
    f["time"] = f["time"].dt.tz_localize(None)
    tr = track(f)
    assert tr.start == T0 and tr.crs == "EPSG:32632"
    assert tr.fixes["x"].iloc[1] - tr.fixes["x"].iloc[0] == pytest.approx(10.0, abs=1e-3)


# --- pose ------------------------------------------------------------------------------------------------


def test_pose_interpolates_position_in_metres_then_lat_lon():
    tr = track(fixes_from_xy([0, 10], [0, 0], [0, 100]))  # 100 m north in 10 s
    pose = tr.pose([T0 + pd.Timedelta(seconds=2.5)])
    assert pose["y"].iloc[0] - N0 == pytest.approx(25.0, abs=1e-3)
    assert pose["x"].iloc[0] - E0 == pytest.approx(0.0, abs=1e-3)
    lon, lat = UTM32.transform(E0, N0 + 25.0)
    assert pose["lat"].iloc[0] == pytest.approx(lat, abs=1e-8) and pose["lon"].iloc[0] == pytest.approx(lon, abs=1e-8)
    assert pose["speed"].iloc[0] == pytest.approx(10.0, abs=1e-6)
    assert abs(angle_diff(pose["grid_heading"].iloc[0], 0.0)) < 1e-6  # built in the UTM 32 grid
    assert pose["distance"].iloc[0] == pytest.approx(25.0, abs=1e-3)


def test_pose_outside_the_track_is_nan_and_flagged():
    tr = track(fixes_from_xy([0, 10], [0, 100], [0, 0]))
    pose = tr.pose(T0 + pd.to_timedelta([-1.0, 0.0, 10.0, 10.5], unit="s"))
    assert list(pose["inside"]) == [False, True, True, False]
    assert pose.loc[[0, 3], ["lat", "lon", "x", "y", "heading", "speed", "distance"]].isna().all().all()
    assert pose.loc[[1, 2], ["lat", "lon", "heading", "speed"]].notna().all().all()


def test_derived_heading_follows_the_road_through_a_corner():
    t = np.arange(0, 21.0)  # 10 s east at 10 m/s, then 10 s north
    x = np.where(t <= 10, 10 * t, 100.0)
    y = np.where(t <= 10, 0.0, 10 * (t - 10))
    tr = track(fixes_from_xy(t, x, y))
    pose = tr.pose(T0 + pd.to_timedelta([3.0, 7.0, 13.0, 18.0], unit="s"))
    assert np.abs(angle_diff(pose["grid_heading"], [90, 90, 0, 0])).max() < 1.0
    assert pose["speed"].to_numpy() == pytest.approx(10.0, abs=0.01)


def test_heading_holds_through_a_stop_with_gps_jitter_and_the_stop_adds_no_distance():
    rng = np.random.default_rng(3)
    t = np.arange(0, 80, 0.1)  # 10 Hz: 20 s east at 10 m/s, 40 s standing with 0.5 m jitter, 20 s east
    x = np.where(t < 20, 10 * t, np.where(t < 60, 200.0, 200 + 10 * (t - 60))) + rng.normal(0, 0.5, len(t))
    y = rng.normal(0, 0.5, len(t))
    tr = track(fixes_from_xy(t, x, y))
    stop = T0 + pd.to_timedelta(np.arange(22, 58, 0.5), unit="s")
    pose = tr.pose(stop)
    assert np.abs(angle_diff(pose["grid_heading"], 90)).max() < 10  # not spinning with the jitter
    assert (pose["speed"] < 0.5).mean() > 0.9
    assert pose["distance"].max() - pose["distance"].min() < 5.0
    assert tr.length_m == pytest.approx(400.0, abs=15.0)


def test_source_heading_and_speed_win_over_derived_ones():
    f = fixes_from_xy([0, 1, 2], [0, 10, 20], [0, 0, 0], speed_mps=[9.0, 9.5, 9.0], heading_deg=[80.0, 85.0, 80.0])
    pose = track(f).pose([T0 + pd.Timedelta(seconds=1)])
    assert pose["speed"].iloc[0] == pytest.approx(9.5) and pose["heading"].iloc[0] == pytest.approx(85.0)


def test_heading_interpolates_across_north():
    f = fixes_from_xy([0, 1], [0, 0], [0, 10], speed_mps=[10.0, 10.0], heading_deg=[350.0, 10.0])
    heading = track(f).pose([T0 + pd.Timedelta(seconds=0.5)])["heading"].iloc[0]
    assert abs(angle_diff(heading, 0.0)) < 1e-6  # not 180


def test_gaps_are_found_and_flagged_in_pose():
    t = np.r_[np.arange(0, 11.0), np.arange(30, 41.0)]
    tr = track(fixes_from_xy(t, 5 * t, 0 * t))
    gaps = tr.gaps
    assert len(gaps) == 1 and gaps["seconds"].iloc[0] == pytest.approx(20.0)
    assert gaps["start"].iloc[0] == T0 + pd.Timedelta(seconds=10)
    pose = tr.pose(T0 + pd.to_timedelta([5.0, 10.0, 20.0, 30.0, 35.0], unit="s"))
    assert list(pose["in_gap"]) == [False, False, True, False, False]


def test_track_of_the_synthetic_drive_matches_its_truth():
    """1 Hz GPX of a 200 m drive with a stop: heading, speed and distance against the generator's truth."""
    from roadscan.sample.drive import plan_drive

    plan = plan_drive(length_m=200.0)
    tr = track(plan.fixes[["time", "lat", "lon"]])
    truth = plan.poses
    pose = tr.pose(truth["time"])
    moving = truth["speed_mps"].to_numpy() > 1.0
    assert tr.crs == "EPSG:32635"  # the generator's own grid, so its headings compare with grid_heading
    err = np.abs(angle_diff(pose["grid_heading"], truth["heading"]))
    assert np.quantile(err[moving], 0.95) < 3.0 and err.max() < 5.0
    assert np.hypot(pose["x"] - truth["x"], pose["y"] - truth["y"]).max() < 1.0
    travelled = pose["distance"].iloc[-1] - pose["distance"].iloc[0]
    assert travelled == pytest.approx(truth["chainage_m"].iloc[-1] - truth["chainage_m"].iloc[0], rel=0.01)


def test_heading_is_true_north_and_grid_heading_turns_by_the_meridian_convergence():
    """Due north along a meridian 2.4 degrees west of UTM 33's central meridian (Copenhagen)."""
    lat = 55.6761 + np.arange(6) * 1e-4
    f = pd.DataFrame({"time": T0 + pd.to_timedelta(np.arange(6), unit="s"), "lat": lat, "lon": 12.5683})
    tr = Track.from_fixes(f, source="log.csv", format="csv")
    assert tr.crs == "EPSG:32633"
    pose = tr.pose([T0 + pd.Timedelta(seconds=2.5)])
    assert abs(angle_diff(pose["heading"].iloc[0], 0.0)) < 0.05
    # west of the central meridian, meridians lean east in the grid: true north is ~2.0 degrees right of grid north
    convergence = (12.5683 - 15.0) * np.sin(np.radians(55.6761))
    assert angle_diff(pose["grid_heading"].iloc[0], 0.0) == pytest.approx(-convergence, abs=0.05)
