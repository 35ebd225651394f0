"""GPS readers on the real files in ../shared/data/gps (skipped when the folder is absent).

The numbers asserted here were read off the files with independent means: the GoPro clip's GPMF
by telemetry-parser (GPS5 values and SCAL, GPSU of each payload), the photo's EXIF by Pillow's
tag names, the GPX by its text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadscan.core.errors import GPSError
from roadscan.geo.gps import read_exif_fix, read_track
from roadscan.geo.sampling import sample_by_distance

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def gps_dir(shared_data):
    return shared_data / "gps"


@pytest.fixture(scope="module")
def gopro(gps_dir):
    return read_track(gps_dir / "gopro_max_gpmf_gps.mp4")


def test_gopro_max_gpmf_track(gopro):
    assert gopro.format == "gpmf" and gopro.skipped == {}
    assert len(gopro) == 191  # GPS5 fixes in 11 payloads, all with a 3D lock (GPSF 3)
    first = gopro.fixes.iloc[0]
    assert first["lat"] == pytest.approx(33.1267700, abs=1e-7) and first["lon"] == pytest.approx(-117.3273436, abs=1e-7)
    assert first["speed_mps"] == pytest.approx(1.046) and first["altitude_m"] == pytest.approx(-22.959)
    assert first["accuracy_m"] == pytest.approx(1.54 * 5.0)  # GPSP 154
    # GPSU of payloads 2-11 minus their place in the video: the first frame at 23:45:15.4 UTC. The
    # container's creation_time says 15:45:32 "Z": the camera's local clock (UTC-8), not UTC.
    assert abs(gopro.video_start - pd.Timestamp("2019-11-18 23:45:15.43", tz="UTC")) < pd.Timedelta(seconds=0.1)
    assert gopro.start == gopro.video_start
    assert (gopro.end - gopro.start).total_seconds() == pytest.approx(10.49, abs=0.05)
    # a walk along a path heading south-south-east at about 1.2 m/s
    assert gopro.fixes["speed_mps"].between(0.5, 1.5).all()
    assert np.abs(gopro.fixes["heading_deg"] - 150.0).max() < 5.0
    assert gopro.length_m == pytest.approx(12.7, abs=1.0)
    assert gopro.crs == "EPSG:32611"


def test_gopro_frames_are_sampled_on_the_gps_clock(gps_dir, gopro):
    from roadscan.detector.footage import open_footage

    with open_footage(gps_dir / "gopro_max_gpmf_gps.mp4") as footage:
        times = gopro.video_start + pd.to_timedelta(footage.timestamps(), unit="s")
    plan = sample_by_distance(pd.DatetimeIndex(times), gopro, spacing_m=1.0)
    counts = plan["reason"].value_counts()
    assert counts.get("outside the GPS track", 0) <= 1 and "GPS gap" not in counts
    assert 11 <= counts["sampled"] <= 14  # 12.7 m every metre
    kept = plan[plan["keep"]]
    assert kept["distance"].diff().dropna().between(0.8, 1.2).all()


def test_gopro_karma_clip_without_gps_says_so(gps_dir):
    path = gps_dir / "gopro_karma_no_gps.mp4"
    with pytest.raises(GPSError) as err:
        read_track(path)
    text = str(err.value)
    assert "no GPS in this file" in text and "gopro_karma_no_gps.mp4" in text and "ACCL" in text
    assert "--gps" in err.value.hint


def test_exif_photo_position_speed_and_direction(gps_dir):
    fix = read_exif_fix(gps_dir / "exif_gps_street_photo.jpg")
    assert fix.lat == pytest.approx(45 + 31 / 60 + 0.851 / 3600, abs=1e-9)  # 45° 31' 0.851" N
    assert fix.lon == pytest.approx(-(122 + 34 / 60 + 21.954 / 3600), abs=1e-9)  # 122° 34' 21.954" W
    assert fix.speed_mps == pytest.approx(22.95 / 3.6)  # 22.95 km/h
    assert fix.heading_deg == pytest.approx(270.89)  # GPSTrack, true
    assert fix.altitude_m == pytest.approx(70.3) and fix.accuracy_m == pytest.approx(1.78 * 5.0)
    assert fix.time_source == "GPS" and fix.time == pd.Timestamp("2018-06-08 20:24:11", tz="UTC")
    assert fix.camera_time == pd.Timestamp("2018-06-08 20:24:10", tz="UTC")  # 13:24:10 at -07:00


def test_exif_photo_as_a_one_fix_track(gps_dir):
    tr = read_track(gps_dir / "exif_gps_street_photo.jpg")
    assert tr.format == "exif" and len(tr) == 1 and tr.video_start == tr.start
    plan = sample_by_distance(pd.DatetimeIndex([tr.video_start]), tr)
    assert plan["keep"].tolist() == [True] and plan["heading"].iloc[0] == pytest.approx(270.89)


def test_sample_5s_gpx(gps_dir):
    tr = read_track(gps_dir / "sample-5s_track.gpx")
    assert tr.format == "gpx" and len(tr) == 49 and tr.skipped == {}
    assert tr.start == pd.Timestamp("2025-03-14 07:00:00", tz="UTC")
    assert tr.end == pd.Timestamp("2025-03-14 07:01:33.624", tz="UTC")
    assert tr.fixes[["lat", "lon"]].iloc[0].tolist() == [37.793585, -122.461396]
    assert tr.video_start is None


def test_sample_5s_video_has_no_embedded_gps(gps_dir):
    path = gps_dir / "sample-5s.mp4"
    with pytest.raises(GPSError) as err:
        read_track(path)
    assert "no GPS in this file" in str(err.value) and "sample-5s.mp4" in str(err.value)
