"""The PostgreSQL/PostGIS store on a real cluster (tests/_postgres.py): what only it has (geometry columns,
GiST indexes, advisory locks), `roadscan db copy` and `db upgrade`, and surveys written into it one at a
time and two at once. The API, tile, CQL2 and work-list tests run on both stores through `@both_backends`.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from _live_api import serve_in_thread
from roadscan.api.store.database import open_store
from roadscan.cli import app as cli_app
from roadscan.core.errors import StoreError

pytestmark = pytest.mark.postgres
runner = CliRunner()


def table_rows(db: Path) -> dict[str, list[tuple]]:
    """Every data table of a SQLite store, rows in id order (what a round trip must give back)."""
    from roadscan.api.store.transfer import data_tables

    with sqlite3.connect(db) as con:
        return {t.name: con.execute(f"SELECT * FROM {t.name} ORDER BY 1").fetchall() for t in data_tables()}


@pytest.fixture(scope="module")
def sample_db():
    from _live_api import _sample_store

    return _sample_store()[1]


def pg_sql(url: str, statement: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url.replace("postgresql://", "postgresql://", 1)) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def test_a_new_store_gets_postgis_points_with_gist_indexes(postgres):
    url = postgres.new_database()
    with open_store(url) as store:
        assert store.upgraded[0] == 0
    columns = dict(pg_sql(url, "SELECT f_geometry_column, srid FROM geometry_columns WHERE f_table_name = 'defects'"))
    assert columns == {"geom": 4326, "geom_3857": 3857}
    indexes = {r[0] for r in pg_sql(url, "SELECT indexdef FROM pg_indexes WHERE tablename = 'defects'")}
    assert any("USING gist (geom)" in i for i in indexes) and any("USING gist (geom_3857)" in i for i in indexes)


def test_db_copy_round_trip_keeps_every_row_and_id(postgres, sample_db, tmp_path):
    url = postgres.new_database()
    out = runner.invoke(cli_app, ["db", "copy", str(sample_db), url])
    assert out.exit_code == 0, out.output
    assert "counts verified" in out.output
    back = tmp_path / "back.db"
    out = runner.invoke(cli_app, ["db", "copy", url, str(back)])
    assert out.exit_code == 0, out.output
    before, after = table_rows(sample_db), table_rows(back)
    assert before["defects"] and before["observations"]
    assert after == before
    # the points are where the rows say, and the sequences continue after the copied ids
    (lon, lat, x, y), = pg_sql(url, "SELECT lon, lat, ST_X(geom), ST_Y(geom) FROM defects ORDER BY id LIMIT 1")
    assert (lon, lat) == (x, y)
    from roadscan.api.auth import create_key

    with open_store(url) as store:
        key_id, _ = create_key(store, "after-copy", "crew")
    assert key_id == max([r[0] for r in before["api_keys"]], default=0) + 1


def test_db_copy_refuses_a_store_that_holds_data_unless_replace(postgres, sample_db):
    url = postgres.new_database()
    assert runner.invoke(cli_app, ["db", "copy", str(sample_db), url]).exit_code == 0
    again = runner.invoke(cli_app, ["db", "copy", str(sample_db), url])
    assert again.exit_code != 0 and "not empty" in str(again.exception) and "--replace" in str(again.exception)
    replaced = runner.invoke(cli_app, ["db", "copy", "--replace", str(sample_db), url])
    assert replaced.exit_code == 0, replaced.output
    n = len(table_rows(sample_db)["defects"])
    assert pg_sql(url, "SELECT count(*) FROM defects")[0][0] == n


def test_db_upgrade_says_the_versions_and_restores_postgis_columns(postgres):
    from roadscan.api.store.schema import SCHEMA_VERSION

    url = postgres.new_database()
    out = runner.invoke(cli_app, ["db", "upgrade", "--db", url])
    assert out.exit_code != 0 and "no roadscan store" in str(out.exception)  # never made empty by a typo
    open_store(url).close()
    pg_sql(url, "ALTER TABLE defects DROP COLUMN geom_3857")
    out = runner.invoke(cli_app, ["db", "upgrade", "--db", url])
    assert out.exit_code == 0 and f"schema {SCHEMA_VERSION}, up to date" in out.output, out.output
    assert pg_sql(url, "SELECT count(*) FROM geometry_columns WHERE f_geometry_column = 'geom_3857'")[0][0] == 1


def test_a_database_url_that_cannot_be_reached_is_a_clear_error(postgres):
    with pytest.raises(StoreError, match="cannot open the database"):
        open_store(postgres.url("no_such_database"))


# -- surveys into PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drives(tmp_path_factory):
    """Two sample drives of the same street (the second with GPS noise): their defects are the same ones."""
    from roadscan.sample import make_sample_drive

    folder = tmp_path_factory.mktemp("drives")
    return (make_sample_drive(folder / "a", length_m=150.0),
            make_sample_drive(folder / "b", length_m=150.0, gps_noise_m=1.0))


def process(drive, db):
    from roadscan.geo.roads import load_network
    from roadscan.pipeline import ProcessOptions, process_survey
    from roadscan.sample.oracle import TruthDetector

    with open_store(db) as store:
        return process_survey(drive.video, drive.gpx, store, ProcessOptions(camera="sample-drive"),
                              detector=TruthDetector(drive.boxes()), network=load_network(drive.roads))


def counts(db) -> dict[str, int]:
    from roadscan.api.store.surveys import count_rows
    from roadscan.api.store.transfer import row_counts

    with open_store(db) as store, store.engine.connect() as conn:
        return {**count_rows(store), **row_counts(conn)}


@pytest.fixture(scope="module")
def sequential(drives, tmp_path_factory):
    """The two drives written one after the other into SQLite: what concurrent writers must also give."""
    db = tmp_path_factory.mktemp("seq") / "seq.db"
    for drive in drives:
        process(drive, db)
    return counts(db)


@pytest.fixture(scope="module")
def one_survey(postgres, drives, tmp_path_factory):
    """A PostGIS store holding the first drive; its images in a folder of its own."""
    images = tmp_path_factory.mktemp("pg-images")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROADSCAN_IMAGES", str(images))
        url = postgres.new_database()
        summary = process(drives[0], url)
    return url, images, summary


def test_the_same_survey_twice_is_stored_once(one_survey, drives, monkeypatch):
    url, images, first = one_survey
    monkeypatch.setenv("ROADSCAN_IMAGES", str(images))
    before = counts(url)
    again = process(drives[0], url)
    assert again.already_stored and again.survey_id == first.survey_id
    assert counts(url) == before


def test_two_surveys_written_at_once_lose_nothing_and_duplicate_nothing(postgres, drives, sequential, monkeypatch,
                                                                        tmp_path):
    """Two drives of the same street and one of them a second time, all at once: the first two merge into
    the same defects as when written one after the other; the repeat is 'already stored', not a crash."""
    monkeypatch.setenv("ROADSCAN_IMAGES", str(tmp_path / "images"))
    url = postgres.new_database()
    open_store(url).close()
    errors: list[BaseException] = []
    stored: list[int] = []
    repeats: list[int] = []

    def run(drive):
        try:
            summary = process(drive, url)
            (repeats if summary.already_stored else stored).append(summary.survey_id)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in (drives[0], drives[1], drives[0])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(stored) == 2 and len(repeats) + len(errors) == 1, errors
    for exc in errors:  # the repeat raced the first one's transaction: told so, nothing written
        assert isinstance(exc, StoreError) and "already stored" in str(exc), exc
    assert counts(url) == sequential


def test_status_updates_and_a_later_survey_on_postgres(one_survey, drives, monkeypatch):
    """A crew's status over HTTP sticks in PostGIS with its history; the next survey reopens a fixed defect."""
    from roadscan.api.app import create_app
    from roadscan.api.auth import create_key

    url, images, _ = one_survey
    monkeypatch.setenv("ROADSCAN_IMAGES", str(images))
    with open_store(url) as store:
        key = create_key(store, "crew-pg", "crew")[1]
    from roadscan.api.tiles import tile_for

    (lon, lat), = pg_sql(url, "SELECT lon, lat FROM defects WHERE id = 1")
    tile = "/tiles/defects/16/{}/{}.mvt".format(*tile_for(lon, lat, 16))
    with serve_in_thread(create_app(url)) as base, httpx.Client(base_url=base, headers={"X-API-Key": key}) as c:
        before = c.get(tile).headers["etag"]
        assert c.get(tile, headers={"If-None-Match": before}).status_code == 304
        r = c.post("/defects/1/status", json={"status": "fixed", "note": "patched"})
        assert r.status_code == 200, r.text
        assert c.get(tile, headers={"If-None-Match": before}).status_code == 200  # the tile's data changed
        assert c.get("/collections/defects/items/1").json()["properties"]["status"] == "fixed"
        summary = process(drives[1], url)
        history = c.get("/defects/1/history").json()
    assert summary.defects.reopened >= 1
    assert [(h["status"], h["by"]) for h in history["history"]][-2:] == \
        [("fixed", "crew-pg"), ("open", f"survey {summary.survey_id}")]


def test_every_command_reads_and_writes_a_postgis_store(postgres, sample_db, monkeypatch, tmp_path):
    url = postgres.new_database()
    monkeypatch.setenv("ROADSCAN_DB", url)  # no --db: $ROADSCAN_DB names the store, as on a server
    monkeypatch.setenv("ROADSCAN_IMAGES", str(tmp_path / "images"))
    assert runner.invoke(cli_app, ["db", "copy", str(sample_db), url]).exit_code == 0
    n = len(table_rows(sample_db)["defects"])
    for args, says in ((["surveys"], "drive"), (["defects", "--limit", "500"], "pothole"),
                       (["export", "--format", "csv", "--out", str(tmp_path / "x.csv")], "x"),
                       (["keys", "create", "--name", "crew-pg", "--role", "crew"], ""),
                       (["keys", "list"], "crew-pg"), (["anonymise"], "already anonymised")):
        out = runner.invoke(cli_app, args)
        assert out.exit_code == 0, (args, out.output, out.exception)
        assert says in out.output, (args, out.output)
    assert len(list(tmp_path.glob("x*.csv"))) >= 1
    assert pg_sql(url, "SELECT count(*) FROM defects")[0][0] == n


def test_a_password_in_the_url_is_never_shown(postgres):
    url = postgres.url("no_such_database").replace("postgres@", "postgres:s3cret-pw@")
    with pytest.raises(StoreError) as err:
        open_store(url)
    assert "s3cret-pw" not in str(err.value) and "no_such_database" in str(err.value)
