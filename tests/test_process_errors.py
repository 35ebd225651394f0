"""Bad input to a survey run (issue 15's tracebacks): each ends in one RoadscanError naming the file,
a non-zero exit, and the store as it was. The truth oracle stands in for the model."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gpxpy
import pytest
from typer.testing import CliRunner

from roadscan.api.store.database import open_store
from roadscan.api.store.surveys import count_rows, list_surveys
from roadscan.cli import app
from roadscan.core.errors import ConfigError, FootageError, RoadscanError, StoreError
from roadscan.core.statuses import DefectStatus
from roadscan.geo.defect_changes import MappingOptions
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector

runner = CliRunner()


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return make_sample_drive(tmp_path_factory.mktemp("drive"), length_m=150.0)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "store.db") as s:
        yield s


def _process(drive, store, *, gps=None, detector=None, network=None, **kw):
    opts = ProcessOptions(**{"camera": drive.camera, **kw})
    return process_survey(drive.video, gps or drive.gpx, store, opts, detector=detector or TruthDetector(drive.boxes()),
                          network=network)


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


# --- options: finite and in range ------------------------------------------------------------------


@pytest.mark.parametrize("field, value, option", [
    ("time_offset_s", float("nan"), "--time-offset"),
    ("time_offset_s", 1e12, "--time-offset"),
    ("time_offset_s", float("-inf"), "--time-offset"),
    ("spacing_m", 0.0, "--spacing"),
    ("spacing_m", float("nan"), "--spacing"),
    ("confidence", 1.5, "--confidence"),
    ("batch", 0, "--batch"),
    ("imgsz", 0, "--imgsz"),
    ("mapping", MappingOptions(tolerance_m=float("inf")), "--snap-tolerance"),
    ("store_images", "some", "--store-images"),
])
def test_options_that_are_not_finite_or_out_of_range_are_refused(field, value, option):
    with pytest.raises(ConfigError) as err:
        ProcessOptions(**{field: value})
    assert option in str(err.value)


@pytest.mark.parametrize("value", ["nan", "1e12"])
def test_time_offset_nan_or_huge_on_the_command_line(drive, tmp_path, value):
    db = tmp_path / "cli.db"
    result = _cli("process", drive.video, "--gps", drive.gpx, "--camera", drive.camera, "--db", db,
                  "--time-offset", value)
    assert isinstance(result.exception, ConfigError) and "--time-offset" in str(result.exception)
    assert not db.exists()


# --- files of the wrong kind -----------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--camera-config", "--scoring", "--road-classes"])
def test_a_folder_given_as_a_config_file(drive, tmp_path, option):
    folder = tmp_path / "configs"
    folder.mkdir()
    db = tmp_path / "cli.db"
    result = _cli("process", drive.video, "--gps", drive.gpx, "--camera", drive.camera, "--db", db,
                  "--roads", drive.roads, option, folder)
    assert isinstance(result.exception, ConfigError), result.output
    assert "is a folder" in str(result.exception) and str(folder) in str(result.exception)
    assert not db.exists()


def test_a_parked_vehicle_samples_no_frame(drive, store, tmp_path):
    """A GPX that never moves once ended in KeyError 'image_path'."""
    gpx = gpxpy.parse(drive.gpx.read_text())
    points = [p for t in gpx.tracks for s in t.segments for p in s.points]
    for p in points:
        p.latitude, p.longitude, p.speed = points[0].latitude, points[0].longitude, 0.0
    parked = tmp_path / "parked.gpx"
    parked.write_text(gpx.to_xml())
    with pytest.raises(FootageError, match="no frame to survey") as err:
        _process(drive, store, gps=parked)
    assert "drive.mp4" in str(err.value) and "stationary" in str(err.value)
    assert count_rows(store)["surveys"] == 0


# --- the store: full, damaged, raced ------------------------------------------------------------------

_RUN = textwrap.dedent("""
    import sys
    from roadscan.api.store.database import open_store
    from roadscan.cli import main
    from roadscan.pipeline import ProcessOptions, process_survey
    from roadscan.sample import SampleDrive
    from roadscan.sample.oracle import TruthDetector
    from roadscan.core.errors import RoadscanError

    drive, db, store_images = SampleDrive.load(sys.argv[1]), sys.argv[2], sys.argv[3]
    try:
        with open_store(db) as store:
            process_survey(drive.video, drive.gpx, store, ProcessOptions(camera=drive.camera, store_images=store_images),
                           detector=TruthDetector(drive.boxes()))
    except RoadscanError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
""")


def _limited(max_file_bytes: int):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return limit


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="no file size limits on this system")
@pytest.mark.parametrize("store_images, max_bytes, words", [
    ("all", 40_000, "cannot write a frame image"),  # the database reads (its 32 KB index), the 46 KB JPEGs do not fit
    ("none", 40_000, "database"),                   # no images; the survey's rows do not fit
])
def test_a_full_disk_is_a_clear_error_and_the_store_unchanged(drive, tmp_path, store_images, max_bytes, words):
    db = tmp_path / "full.db"
    open_store(db).close()
    run = subprocess.run([sys.executable, "-c", _RUN, str(drive.folder), str(db), store_images], capture_output=True,
                         text=True, timeout=300, preexec_fn=_limited(max_bytes))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert words in run.stderr and ("full.db" in run.stderr or "full-images" in run.stderr), run.stderr
    with open_store(db) as store:
        assert count_rows(store)["surveys"] == count_rows(store)["frames"] == 0
        assert not store.images_dir.exists()  # no scratch folder, no empty image folder


def test_a_damaged_store_is_a_clear_error(drive, tmp_path):
    """A corrupt page once ended in a 7.7 KB SQL dump after 30 s of work."""
    db = tmp_path / "damaged.db"
    with open_store(db) as store:
        _process(drive, store)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    for start in range(4 * 4096, len(data) - 4096, 4096):
        data[start:start + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged") as err, open_store(db) as store:
        _process(drive, store, time_offset_s=0.5)
    assert str(db) in str(err.value) and len(str(err.value)) < 500


def test_two_runs_of_the_same_footage_at_once(drive, store):
    """Two identical runs at once once ended in an IntegrityError on the fingerprint: the later one to
    commit is told the footage is stored (the store's check, or the pipeline's when the two inserts race)."""

    class RacedDetector(TruthDetector):
        """Lets a second run of the same footage finish while this one is still detecting."""

        raced = False

        def predict(self, images, frame_indices=None):
            if not RacedDetector.raced:
                RacedDetector.raced = True
                _process(drive, store)
            return super().predict(images, frame_indices)

    with pytest.raises(StoreError, match="stored as survey 1") as err:
        _process(drive, store, detector=RacedDetector(drive.boxes()))
    assert "drive.mp4" in str(err.value)
    assert len(list_surveys(store)) == 1


# --- what a run must not do to the store ------------------------------------------------------------


def test_a_run_that_places_nothing_leaves_the_defects_open(drive, store, tmp_path):
    """A camera whose horizon lies below the picture places no detection: that says nothing about the
    road, so the open defects it 'did not see' stay open (not "not re-observed")."""
    network = load_network(drive.roads)
    first = _process(drive, store, network=network, mapping=MappingOptions())
    assert first.defects.new > 0
    up = tmp_path / "up.toml"
    up.write_text("[up]\nwidth = 960\nheight = 540\nhfov_deg = 90\nmount_height_m = 1.4\npitch_deg = -30\n")
    again = _process(drive, store, network=network, mapping=MappingOptions(), camera="up", camera_config=up,
                     replace=True)
    assert again.total_detections > 0 and again.located == 0
    assert again.defects.not_reobserved == 0
    from roadscan.api.exports import defects_layer

    assert set(defects_layer(store)["status"]) == {str(DefectStatus.OPEN)}


def test_frame_times_finer_than_microseconds_raise_no_warning(drive, store):
    """Times with nanoseconds (any offset or frame rate that is no whole microsecond) once made pandas
    warn 'Discarding nonzero nanoseconds' in every real-footage run."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _process(drive, store, time_offset_s=0.1234567)
    assert not [w for w in caught if "nanosecond" in str(w.message)], [str(w.message) for w in caught]
