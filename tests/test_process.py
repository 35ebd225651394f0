"""The survey job end to end on the synthetic drive: footage + GPX in, geolocated observations stored.

The truth oracle stands in for the model where the test is about geometry and bookkeeping; the
`roadscan` command itself runs with a real (untrained) YOLO checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roadscan.api.store.database import open_store
from roadscan.api.store.surveys import count_rows, list_surveys, read_observations
from roadscan.core.errors import ConfigError, FootageError, GPSError, StoreError
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector
from roadscan.sample.score import sighting_errors

OPTS = dict(camera="sample-drive")


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return make_sample_drive(tmp_path_factory.mktemp("drive"), length_m=200.0)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.db") as s:
        yield s


def _process(drive, store, **kw):
    opts = ProcessOptions(**{**OPTS, **kw})
    return process_survey(drive.video, drive.gpx, store, opts, detector=TruthDetector(drive.boxes()))


def test_sample_drive_is_sampled_located_and_stored(drive, store):
    summary = _process(drive, store)
    assert summary.survey_id is not None and not summary.already_stored
    # 200 m of footage every 3 m: about 67 frames; the stop is reported, not silently dropped.
    assert 55 <= summary.frames_sampled <= 75
    assert summary.frames_skipped.get("stationary", 0) >= 20  # a 3 s stop at 10 fps
    assert summary.frames_read == drive.n_frames
    assert sum(summary.frames_skipped.values()) + summary.frames_sampled == summary.frames_read
    assert summary.distance_km == pytest.approx(0.2, abs=0.02)

    obs = read_observations(store, summary.survey_id)
    assert len(obs) == summary.total_detections > 0
    errors = sighting_errors(obs, drive)
    assert len(errors) == len(obs)  # every stored box is one of the truth boxes
    ahead = errors[(errors.forward_m >= 5) & (errors.forward_m <= 25) & (errors.visible > 0.99)]
    assert len(ahead) >= 10
    assert ahead.error_m.median() < 1.5
    # Frames with a detection keep their (staged, then committed) image; the others keep none.
    kept = obs.image_path.dropna().unique()
    assert len(kept) and all((store.images_dir / p).is_file() for p in kept)


def test_processing_the_same_drive_twice_adds_nothing(drive, store):
    first = _process(drive, store)
    before = count_rows(store)
    again = _process(drive, store)
    assert again.already_stored and again.survey_id == first.survey_id
    assert count_rows(store) == before


def test_truncated_video_is_refused_and_store_unchanged(drive, store, tmp_path):
    _process(drive, store)
    before = count_rows(store)
    broken = tmp_path / "broken.mp4"
    data = drive.video.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(FootageError) as err:
        process_survey(broken, drive.gpx, store, ProcessOptions(**OPTS), detector=TruthDetector(drive.boxes()))
    assert "broken.mp4" in str(err.value)
    assert count_rows(store) == before
    assert not [p for p in store.images_dir.iterdir() if p.name.startswith(".staging")]


def test_track_that_misses_the_footage_is_refused(drive, store):
    with pytest.raises(GPSError) as err:
        _process(drive, store, time_offset_s=7200.0)
    assert "does not overlap" in str(err.value) and "drive.gpx" in str(err.value)
    assert count_rows(store)["surveys"] == 0


def test_unknown_camera_profile_is_refused(drive, store):
    with pytest.raises(ConfigError) as err:
        _process(drive, store, camera="no-such-camera")
    assert "no-such-camera" in str(err.value)


def test_database_path_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as err:
        open_store(blocker / "store.db")
    assert "store.db" in str(err.value)


def _roadscan(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "roadscan.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_roadscan_process_command(drive, tiny_yolo_pt, tmp_path):
    db = tmp_path / "cli.db"
    run = _roadscan("process", drive.video, "--gps", drive.gpx, "--camera", "sample-drive", "--model",
                    tiny_yolo_pt, "--db", db, "--imgsz", "320", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Survey 1 stored" in run.stdout and "skipped" in run.stdout and "stationary" in run.stdout
    assert "x real time for 3 m spacing at 50 km/h, which needs 4.6" in " ".join(run.stdout.split())
    listing = _roadscan("surveys", "--db", db, cwd=tmp_path)
    assert listing.returncode == 0 and "drive" in listing.stdout
    again = _roadscan("process", drive.video, "--gps", drive.gpx, "--camera", "sample-drive", "--model",
                      tiny_yolo_pt, "--db", db, "--imgsz", "320", cwd=tmp_path)
    assert again.returncode == 0 and "Already stored" in again.stdout


@pytest.mark.slow
def test_roadscan_process_reports_bad_input_without_traceback(drive, tiny_yolo_pt, tmp_path):
    empty = tmp_path / "empty.gpx"
    empty.write_text('<?xml version="1.0"?><gpx version="1.1" creator="x"></gpx>')
    run = _roadscan("process", drive.video, "--gps", empty, "--camera", "sample-drive", "--model", tiny_yolo_pt,
                    "--db", tmp_path / "x.db", cwd=tmp_path)
    assert run.returncode != 0
    assert "empty.gpx" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.realdata
@pytest.mark.slow
def test_roadscan_process_gopro_with_embedded_gps(shared_data, tiny_yolo_pt, tmp_path):
    clip = shared_data / "gps" / "gopro_max_gpmf_gps.mp4"
    db = tmp_path / "gopro.db"
    run = _roadscan("process", clip, "--camera", "gopro", "--model", tiny_yolo_pt, "--db", db, "--spacing", "1",
                    "--imgsz", "320", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    with open_store(db) as s:
        table = list_surveys(s)
    assert len(table) == 1 and table.frames_sampled.iloc[0] > 0


@pytest.mark.realdata
@pytest.mark.slow
def test_roadscan_process_gopro_without_gps(shared_data, tiny_yolo_pt, tmp_path):
    clip = shared_data / "gps" / "gopro_karma_no_gps.mp4"
    run = _roadscan("process", clip, "--camera", "gopro", "--model", tiny_yolo_pt, "--db", tmp_path / "k.db",
                    cwd=tmp_path)
    assert run.returncode != 0 and "gopro_karma_no_gps.mp4" in run.stderr and "GPS" in run.stderr
    assert "Traceback" not in run.stderr
