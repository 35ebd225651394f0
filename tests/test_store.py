"""The SQLite store: versioned schema, atomic survey writes, no duplicates, clear errors."""

import importlib.util
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from roadscan.api.store.database import open_store, schema_version
from roadscan.api.store.schema import SCHEMA_VERSION
from roadscan.api.store.staging import ImageStaging, staging_dir
from roadscan.api.store.surveys import count_rows, find_survey, list_surveys, write_survey
from roadscan.core.errors import StoreError

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)


def survey_row(fp="f" * 64):
    return dict(fingerprint=fp, name="drive", footage_path="/x/drive.mp4", footage_kind="video",
                gps_path="/x/drive.gpx", gps_format="gpx", time_offset_s=0.0, camera={"name": "dashcam"},
                model="tiny.pt", started_at=T0, ended_at=T0 + timedelta(seconds=60), processed_at=T0,
                distance_m=500.0, track_wkt="LINESTRING (24.9 60.1, 24.91 60.1)", frames_read=600,
                frames_sampled=2, detections=1, summary={"skipped": {"stationary": 3}})


def frames_table():
    return pd.DataFrame(dict(frame_index=[0, 10], time=[pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(seconds=1))],
                             lat=[60.1, 60.1001], lon=[24.9, 24.9], heading_deg=[0.0, float("nan")],
                             speed_mps=[8.0, 8.0], distance_m=[0.0, 3.0], image_path=["frame-000000.jpg", None],
                             width=[960, 960], height=[540, 540]))


def obs_table(frame_index=0):
    return pd.DataFrame(dict(frame_index=[frame_index], code=["D40"], name=["pothole"], confidence=[0.8],
                             x1=[1.0], y1=[2.0], x2=[30.0], y2=[40.0], lat=[60.10005], lon=[24.9],
                             forward_m=[8.0], right_m=[0.5], distance_m=[8.0], width_m=[0.6], length_m=[0.7]))


def staged_with_image(store):
    staged = staging_dir(store)
    (staged / "frame-000000.jpg").write_bytes(b"jpeg")
    return staged


def test_new_store_has_versioned_schema(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        assert schema_version(store) == SCHEMA_VERSION
        assert count_rows(store) == {"surveys": 0, "frames": 0, "observations": 0}


def test_write_and_read_back(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        sid = write_survey(store, survey_row(), frames_table(), obs_table(), staged_with_image(store))
        assert count_rows(store) == {"surveys": 1, "frames": 2, "observations": 1}
        row = find_survey(store, "f" * 64)
        assert row["id"] == sid and row["started_at"] == T0 and row["started_at"].tzinfo is not None
        listed = list_surveys(store)
        assert listed.loc[0, "name"] == "drive"
        with store.engine.connect() as conn:
            path = conn.execute(text("select image_path from frames where frame_index = 0")).scalar()
        assert (store.images_dir / path).read_bytes() == b"jpeg"
        assert not list(store.images_dir.glob(".staging-*"))


def test_same_survey_twice_is_refused_and_replace_swaps_it(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        write_survey(store, survey_row(), frames_table(), obs_table(), staged_with_image(store))
        with pytest.raises(StoreError, match="already stored"):
            write_survey(store, survey_row(), frames_table(), obs_table(), staged_with_image(store))
        assert count_rows(store) == {"surveys": 1, "frames": 2, "observations": 1}
        write_survey(store, survey_row(), frames_table(), obs_table(), staged_with_image(store), replace=True)
        assert count_rows(store) == {"surveys": 1, "frames": 2, "observations": 1}
        assert len(list(store.images_dir.iterdir())) == 1


def test_failure_mid_write_leaves_store_and_images_as_before(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        write_survey(store, survey_row("a" * 64), frames_table(), obs_table(), staged_with_image(store))
        before = count_rows(store)
        images_before = sorted(p.name for p in store.images_dir.iterdir())
        broken = obs_table(frame_index=99)  # refers to a frame that does not exist: fails after inserts began
        with pytest.raises(KeyError):
            write_survey(store, survey_row("b" * 64), frames_table(), broken, staged_with_image(store))
        assert count_rows(store) == before
        assert sorted(p.name for p in store.images_dir.iterdir()) == images_before


def test_replace_failure_keeps_the_old_survey(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        write_survey(store, survey_row(), frames_table(), obs_table(), staged_with_image(store))
        with pytest.raises(KeyError):
            write_survey(store, survey_row(), frames_table(), obs_table(frame_index=99), staged_with_image(store),
                         replace=True)
        assert count_rows(store) == {"surveys": 1, "frames": 2, "observations": 1}
        (image_dir,) = [p for p in store.images_dir.iterdir()]
        assert (image_dir / "frame-000000.jpg").exists()


def test_naive_times_are_refused(tmp_path):
    with open_store(tmp_path / "s.db") as store:
        bad = survey_row() | {"started_at": datetime(2026, 6, 1, 8, 0)}
        with pytest.raises(Exception, match="naive datetime"):
            write_survey(store, bad, frames_table(), obs_table())
        assert count_rows(store)["surveys"] == 0


def test_unwritable_and_bad_paths(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="folder does not exist"):
        open_store(blocker / "s.db")
    with pytest.raises(StoreError, match="is a folder"):
        open_store(tmp_path)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        open_store(garbage)


def test_read_only_database_file(tmp_path):
    import os

    path = tmp_path / "ro.db"
    open_store(path).close()
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        # Root ignores file modes; a folder that the kernel itself keeps read-only stands in.
        path = Path("/proc/self/roadscan.db")
        if os.access(path.parent, os.W_OK):
            pytest.skip("no read-only location to test with on this system")
    with pytest.raises(StoreError, match="not writable"):
        open_store(path)


def test_store_from_newer_release_is_refused(tmp_path):
    path = tmp_path / "new.db"
    with open_store(path) as store, store.engine.begin() as conn:
        conn.execute(text("update meta set value = '99' where key = 'schema_version'"))
    with pytest.raises(StoreError, match="newer roadscan"):
        open_store(path)


def _make_v1_store(path):
    """A store as schema 1 wrote it (its DDL frozen in tests/fixtures), to check the in-place migration."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "fixtures" / "schema_v1.sql").read_text())


def test_schema_1_store_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    _make_v1_store(path)
    with open_store(path) as store:
        assert schema_version(store) == SCHEMA_VERSION
        staged = staged_with_image(store)
        sid = write_survey(store, survey_row(), frames_table(), obs_table(), staged)
        with store.engine.connect() as conn:
            cols = {r[1] for r in conn.execute(text("pragma table_info(observations)"))}
            tables = {r[0] for r in conn.execute(text("select name from sqlite_master where type='table'"))}
        assert {"defect_id", "segment_id", "chainage_m", "side", "offset_m", "on_network"} <= cols
        assert {"defects", "defect_history", "segments", "coverage", "segment_condition"} <= tables
        assert count_rows(store)["observations"] == 1 and sid == 1


def test_schema_2_store_is_migrated_in_place(tmp_path):
    """Schema 3 adds API keys and defect photos; a schema 2 store (DDL frozen in tests/fixtures) gains them."""
    import sqlite3

    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "fixtures" / "schema_v2.sql").read_text())
    with open_store(path) as store:
        assert schema_version(store) == SCHEMA_VERSION
        with store.engine.connect() as conn:
            tables = {r[0] for r in conn.execute(text("select name from sqlite_master where type='table'"))}
            key_cols = {r[1] for r in conn.execute(text("pragma table_info(api_keys)"))}
            photo_cols = {r[1] for r in conn.execute(text("pragma table_info(defect_photos)"))}
        assert {"api_keys", "defect_photos", "defects", "defect_history"} <= tables
        assert {"name", "role", "key_hash", "revoked_at"} <= key_cols
        assert {"defect_id", "path", "content_type", "by", "at", "anonymised"} <= photo_cols
        sid = write_survey(store, survey_row(), frames_table(), obs_table(), staged_with_image(store))
        assert sid == 1


def test_schema_3_store_is_migrated_in_place(tmp_path):
    """Schema 4 records each photo's anonymisation; a schema 3 store's photos gain the column as NULL
    (stored before anonymisation, so not served until `roadscan anonymise` masks them)."""
    import sqlite3

    path = tmp_path / "v3.db"
    at = T0.isoformat(timespec="microseconds")
    with sqlite3.connect(path) as conn:
        conn.executescript((Path(__file__).parent / "fixtures" / "schema_v3.sql").read_text())
        conn.execute("insert into defects (id, code, name, family, lat, lon, on_network, n_obs, n_surveys, "
                     "max_confidence, mean_confidence, severity, severity_reason, priority, priority_breakdown, "
                     "status, first_seen, last_seen, updated_at) values (1, 'D40', 'pothole', 'pothole', 60.1, "
                     "24.9, 1, 1, 1, 0.8, 0.8, 3, '', 50, '{}', 'open', ?, ?, ?)", (at, at, at))
        conn.execute("insert into defect_photos (id, defect_id, path, content_type, bytes, width, height, note, "
                     "\"by\", at) values (1, 1, 'photos/p.jpg', 'image/jpeg', 1234, 64, 48, 'after', 'crew', ?)", (at,))
    with open_store(path) as store:
        assert schema_version(store) == SCHEMA_VERSION
        with store.engine.connect() as conn:
            row = conn.execute(text("select * from defect_photos")).mappings().one()
    assert row["anonymised"] is None
    assert {k: row[k] for k in ("defect_id", "path", "bytes", "width", "height", "note", "by", "at")} == dict(
        defect_id=1, path="photos/p.jpg", bytes=1234, width=64, height=48, note="after", by="crew", at=at)


def test_a_reading_open_never_creates_a_store(tmp_path):
    missing = tmp_path / "typo.db"
    with pytest.raises(StoreError, match="no store here") as err:
        open_store(missing, create=False)
    assert "roadscan demo" in err.value.hint and not missing.exists()
    open_store(tmp_path / "real.db").close()
    with open_store(tmp_path / "real.db", create=False) as store:
        assert schema_version(store) == SCHEMA_VERSION


def test_a_store_made_by_a_failing_block_is_removed_again(tmp_path):
    """A first run that fails leaves no empty 128 KB database (nor image folder) behind."""
    new = tmp_path / "first.db"
    with pytest.raises(RuntimeError), open_store(new) as store, ImageStaging(store, "f" * 64):
        raise RuntimeError("bad input")  # while the survey's images were being staged
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a store that existed before, or that holds a survey, stays whatever happens
    with open_store(new) as store:
        write_survey(store, survey_row(), frames_table(), obs_table())
    with pytest.raises(RuntimeError), open_store(new):
        raise RuntimeError("later failure")
    with pytest.raises(RuntimeError), open_store(tmp_path / "kept.db") as store:
        write_survey(store, survey_row(), frames_table(), obs_table())
        raise RuntimeError("after the survey was stored")
    assert new.is_file() and (tmp_path / "kept.db").is_file()


def test_database_urls_keep_their_slashes(tmp_path, monkeypatch):
    """--db sqlite:////abs/x.db and ROADSCAN_DB=... once lost a slash to Path and failed."""
    from roadscan.api.store.database import default_db_path

    url = f"sqlite:///{tmp_path}/url.db"  # sqlite:////tmp/... : an absolute path
    with open_store(url) as store:
        assert Path(store.location) == tmp_path / "url.db"
        assert store.images_dir == tmp_path / "url-images"
    monkeypatch.setenv("ROADSCAN_DB", url)
    assert default_db_path() == url
    with open_store(create=False) as store:
        assert Path(store.location) == tmp_path / "url.db"
    monkeypatch.setenv("ROADSCAN_DB", str(tmp_path / "plain.db"))
    assert default_db_path() == tmp_path / "plain.db"
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("nosuchdb://host/x")
    if importlib.util.find_spec("psycopg") is None:  # no dependency of roadscan
        with pytest.raises(StoreError, match="driver"):
            open_store("postgresql+psycopg://user@localhost/roads")


@pytest.mark.parametrize("value", ["abc", None, "0"])
def test_a_missing_or_unreadable_schema_version_is_refused(tmp_path, value):
    path = tmp_path / "odd.db"
    with open_store(path) as store, store.engine.begin() as conn:
        if value is None:
            conn.execute(text("DELETE FROM meta WHERE key = 'schema_version'"))
        else:
            conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": value})
    with pytest.raises(StoreError, match="schema version") as err:
        open_store(path)
    assert str(path) in str(err.value)


def test_a_damaged_database_is_a_store_error(tmp_path):
    from roadscan.api.store.database import database_errors

    path = tmp_path / "damaged.db"
    with open_store(path) as store:
        for i in range(40):
            write_survey(store, survey_row(fp=f"{i:064d}"), frames_table(), obs_table())
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(4 * page, len(data) - page, page):  # every page after the schema's, overwritten
        data[start:start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged") as err:
        with open_store(path, create=False) as store, database_errors(store.location):
            list_surveys(store)
    assert str(path) in str(err.value) and ".recover" in err.value.hint


def test_a_killed_run_leaves_a_scratch_folder_the_next_run_removes(tmp_path):
    """kill -9 during detection once left .staging-<uuid> folders that no later run removed."""
    import os
    import subprocess
    import sys

    db = tmp_path / "s.db"
    code = ("import os, sys; from roadscan.api.store.database import open_store; "
            "from roadscan.api.store.staging import ImageStaging; store = open_store(sys.argv[1]); "
            "s = ImageStaging(store, 'f' * 64, keep_originals=True); s.originals.mkdir(parents=True); "
            "(s.images / 'frame-000001.jpg').write_bytes(b'x'); os.kill(os.getpid(), 9)")
    run = subprocess.run([sys.executable, "-c", code, str(db)], timeout=120)
    assert run.returncode == -9
    with open_store(db) as store:
        left = [p for parent in (store.images_dir, store.images_dir.with_name(store.images_dir.name + "-originals"))
                for p in parent.glob(".staging-*")]
        assert len(left) == 2
        old = store.images_dir / ".staging-0123456789abcdef0123456789abcdef"  # named before owners were
        old.mkdir()
        os.utime(old, (0, 0))
        recent = store.images_dir / ".staging-fedcba9876543210fedcba9876543210"
        recent.mkdir()
        with ImageStaging(store, "e" * 64) as mine:  # the next run
            assert not any(p.exists() for p in left) and not old.exists()
            assert recent.exists() and mine.images.exists()  # age unknown: kept for now; its own: kept
