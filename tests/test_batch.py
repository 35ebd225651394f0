"""Many drives in one `roadscan process`: a folder pairs footage and GPS by name, a manifest lists them
(CSV, TOML, YAML), and a bad manifest is refused by entry and key before any work."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from roadscan.batch import Drive, drives_from, read_folder, read_manifest
from roadscan.core.errors import ConfigError
from roadscan.pipeline import ProcessOptions


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_a_folder_pairs_each_footage_with_the_gps_log_of_its_name(tmp_path):
    _touch(tmp_path, "north.mp4", "north.gpx", "south.MOV", "south.nmea", "gopro.mp4", "frames/0001.jpg",
           "frames.csv", "notes.txt", ".hidden.mp4")
    drives = {d.footage.name: d.gps.name if d.gps else None for d in read_folder(tmp_path)}
    assert drives == {"frames": "frames.csv", "gopro.mp4": None, "north.mp4": "north.gpx", "south.MOV": "south.nmea"}


def test_one_footage_is_not_a_batch(tmp_path):
    _touch(tmp_path, "frames/0001.jpg", "drive.mp4")
    assert drives_from(tmp_path / "frames") is None  # a folder of JPEG frames is one drive's footage
    assert drives_from(tmp_path / "drive.mp4") is None
    assert [d.footage.name for d in drives_from(tmp_path)] == ["drive.mp4", "frames"]


def test_a_folder_without_footage_says_so(tmp_path):
    _touch(tmp_path, "track.gpx")
    with pytest.raises(ConfigError, match="no drives in this folder"):
        drives_from(tmp_path)


MANIFESTS = {
    "drives.csv": "footage,gps,time_offset,camera,name\nnorth.mp4,north.gpx,1.5,gopro-hero,North\n"
                  "sub/south.mp4,,,,\n",
    "drives.toml": '[[drive]]\nfootage = "north.mp4"\ngps = "north.gpx"\ntime_offset = 1.5\ncamera = "gopro-hero"\n'
                   'name = "North"\n\n[[drive]]\nfootage = "sub/south.mp4"\n',
    "drives.yaml": "drives:\n  - footage: north.mp4\n    gps: north.gpx\n    time_offset: 1.5\n    camera: gopro-hero\n"
                   "    name: North\n  - footage: sub/south.mp4\n",
}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_a_manifest_lists_drives_with_their_own_settings(tmp_path, name):
    (tmp_path / name).write_text(MANIFESTS[name])
    north, south = drives_from(tmp_path / name)
    assert north == Drive(tmp_path / "north.mp4", tmp_path / "north.gpx", 1.5, "gopro-hero", "North")
    assert south == Drive(tmp_path / "sub" / "south.mp4")
    opts = north.options(ProcessOptions(camera="dashcam", anonymise="horizon"))
    assert (opts.camera, opts.time_offset_s, opts.name, opts.anonymise) == ("gopro-hero", 1.5, "North", "horizon")
    assert south.options(ProcessOptions(camera="dashcam")).camera == "dashcam"


def test_a_start_time_in_a_manifest_is_read_as_utc(tmp_path):
    (tmp_path / "m.yaml").write_text("- footage: a.mp4\n  start_time: 2026-06-01T08:00:00Z\n")
    (drive,) = read_manifest(tmp_path / "m.yaml")
    assert drive.start_time == datetime(2026, 6, 1, 8, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, words", [
    ("footage,gps,speed\na.mp4,a.gpx,3\n", "drive 1 of the manifest: speed: Extra inputs are not permitted"),
    ("gps\na.gpx\n", "drive 1 of the manifest: footage: Field required"),
    ("footage,time_offset\na.mp4,soon\n", "time_offset: Input should be a valid number"),
    ("footage\n", "lists no drives"),
])
def test_a_bad_manifest_is_refused_by_entry_and_key(tmp_path, text, words):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ConfigError, match=words) as err:
        read_manifest(tmp_path / "m.csv")
    assert "m.csv" in str(err.value)


def test_a_manifest_that_is_not_valid_toml_says_so(tmp_path):
    (tmp_path / "m.toml").write_text("[[drive]\nfootage = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_manifest(tmp_path / "m.toml")


def test_one_after_another_a_drive_that_fails_is_reported_and_the_next_one_still_runs(tmp_path):
    from roadscan.api.store.database import open_store
    from roadscan.batch import FAILED, run_batch

    (tmp_path / "cut.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    (tmp_path / "cut.gpx").write_text("<gpx></gpx>")
    drives = [Drive(tmp_path / "cut.mp4", tmp_path / "cut.gpx"), Drive(tmp_path / "gone.mp4", tmp_path / "gone.gpx")]
    with open_store(tmp_path / "s.db") as store:
        results = run_batch(drives, store, ProcessOptions(camera="sample-drive"))
    assert [r.status for r in results] == [FAILED, FAILED]
    assert "cut.mp4" in results[0].error and "gone.mp4" in results[1].error and "no such file" in results[1].error


def test_without_ray_the_workers_option_says_how_to_install_it(monkeypatch):
    import sys

    from roadscan.ray_pipeline import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=r"pip install 'roadscan\[scale\]'"):
        import_ray()
