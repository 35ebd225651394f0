"""A batch of drives on a local Ray cluster (tests/conftest.py `ray_cluster`, 2 CPUs, once a session).

Four drives made from one synthetic drive: two good ones (the same footage with two GPS loggers'
files), one whose video was cut off in the copy and one damaged half-way. The two are stored, each
as one survey, the others reported with their reasons; running the batch again adds nothing, and
once the cut-off video is copied again completes only that one. The same surveys as the single-machine path gives, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from _postgres import both_backends
from typer.testing import CliRunner

from roadscan.api.store.database import open_store
from roadscan.api.store.surveys import count_rows, list_surveys
from roadscan.batch import ALREADY, FAILED, STORED, read_folder, read_manifest, run_batch
from roadscan.cli import app
from roadscan.pipeline import ProcessOptions
from roadscan.sample import make_sample_drive

OPTS = ProcessOptions(camera="sample-drive", anonymise="horizon")  # the sky band masked; no face detector to load


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return make_sample_drive(tmp_path_factory.mktemp("drive"), length_m=90.0)


def _drives(drive, folder):
    """a, b, c, d: the drive, with four loggers' GPS files (four surveys); c's video cut off half-way (it
    cannot be opened), d's damaged half-way (it opens, and decoding breaks there, on a Ray worker)."""
    folder.mkdir()
    for name in "abcd":
        shutil.copy(drive.gpx, folder / f"{name}.gpx")
    for name in "bcd":
        with (folder / f"{name}.gpx").open("a") as f:
            f.write(f"<!-- logger {name} -->\n")
    shutil.copy(drive.video, folder / "a.mp4")
    shutil.copy(drive.video, folder / "b.mp4")
    data = drive.video.read_bytes()
    (folder / "c.mp4").write_bytes(data[: len(data) // 2])
    damaged, at = bytearray(data), len(data) // 2
    damaged[at:at + len(data) // 12] = np.random.default_rng(1).integers(0, 256, len(data) // 12, np.uint8).tobytes()
    (folder / "d.mp4").write_bytes(bytes(damaged))
    return folder


@pytest.fixture
def db(backend, request, tmp_path, monkeypatch):
    """A new store on the backend under test."""
    if backend == "postgresql":
        monkeypatch.setenv("ROADSCAN_IMAGES", str(tmp_path / "images"))
        return request.getfixturevalue("postgres").new_database()
    return tmp_path / "batch.db"


@both_backends
def test_two_drives_stored_two_reported_and_a_rerun_completes_only_what_is_missing(ray_cluster, drive, db, tmp_path):
    folder = _drives(drive, tmp_path / "drives")
    drives = read_folder(folder)
    with open_store(db) as store:
        first = run_batch(drives, store, OPTS, workers=1)
        stored = count_rows(store)
        again = run_batch(drives, store, OPTS, workers=1)
        assert count_rows(store) == stored
        surveys = list_surveys(store)
    assert [r.status for r in first] == [STORED, STORED, FAILED, FAILED]
    assert "c.mp4" in first[2].error and "video" in first[2].error
    assert "d.mp4" in first[3].error and "decoding breaks at frame" in first[3].error
    assert not list(Path(store.images_dir).glob(".staging-*"))  # what d's frames staged is gone again
    a, b = first[0].summary, first[1].summary
    assert a.frames_sampled == b.frames_sampled > 20 and a.survey_id != b.survey_id
    assert stored["surveys"] == 2 and stored["frames"] == a.frames_sampled + b.frames_sampled
    assert stored["observations"] == a.total_detections + b.total_detections
    assert sorted(surveys["frames_sampled"]) == [a.frames_sampled] * 2
    assert [r.status for r in again] == [ALREADY, ALREADY, FAILED, FAILED]

    shutil.copy(drive.video, folder / "c.mp4")  # the video copied again, whole
    with open_store(db) as store:
        third = run_batch(drives, store, OPTS, workers=1)
        assert count_rows(store)["surveys"] == 3
    assert [r.status for r in third] == [ALREADY, ALREADY, STORED, FAILED]


def test_ray_stores_what_the_single_machine_path_stores(ray_cluster, drive, tmp_path):
    """A manifest run one drive after another and the same drives on Ray: the same rows, image for image."""
    folder = _drives(drive, tmp_path / "drives")
    (folder / "drives.toml").write_text('[[drive]]\nfootage = "a.mp4"\ngps = "a.gpx"\nname = "first"\n\n'
                                        '[[drive]]\nfootage = "b.mp4"\ngps = "b.gpx"\n')
    drives = read_manifest(folder / "drives.toml")
    rows, images = {}, {}
    for how, workers in (("sequential", None), ("ray", 1)):
        with open_store(tmp_path / f"{how}.db") as store:
            results = run_batch(drives, store, OPTS, workers=workers)
            assert [r.status for r in results] == [STORED, STORED]
            rows[how] = count_rows(store)
            images[how] = sorted(p.name for p in store.images_dir.rglob("*.jpg"))
            assert sorted(list_surveys(store)["name"]) == ["b", "first"]  # Ray stores whichever finishes first
    assert rows["ray"] == rows["sequential"]
    assert images["ray"] == images["sequential"] and images["ray"]


def test_roadscan_process_runs_a_folder_on_ray_and_prints_what_became_of_each_drive(ray_cluster, drive, tmp_path):
    folder = _drives(drive, tmp_path / "drives")
    args = ["process", str(folder), "--db", str(tmp_path / "s.db"), "--camera", "sample-drive", "--anonymise",
            "horizon", "--store-images", "none", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # one drive failed: the batch says so by its exit status
    out = " ".join(result.output.split())
    assert "2 stored, 0 already stored (skipped), 2 failed" in out
    assert "c.mp4" in out and "retry the failed drives only" in out
    again = CliRunner().invoke(app, args)
    assert "0 stored, 2 already stored (skipped), 2 failed" in " ".join(again.output.split())
