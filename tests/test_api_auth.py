"""Access control over HTTP: API keys with roles (viewer < crew < admin), public or private reads,
every write needs crew or admin; refusals are OGC exception bodies. Also the `roadscan keys` commands."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from roadscan.api.app import create_app
from roadscan.api.auth import create_key, hash_key
from roadscan.api.store.database import open_store
from roadscan.api.store.keys import list_keys, revoke_key
from roadscan.cli import app as cli
from roadscan.core.errors import ConfigError

from _api_copy import copy_live_store
from _live_api import serve_in_thread

READS = ["/collections/defects/items", "/worklists", "/defects/1/history", "/defects/1/image",
         "/collections/defects/export?format=csv", "/collections"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return copy_live_store(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def keys(db):
    with open_store(db) as store:
        made = {role: create_key(store, f"{role}-1", role)[1] for role in ("viewer", "crew", "admin")}
        made["revoked"] = create_key(store, "gone", "admin")[1]
        revoke_key(store, "gone")
    return made


@pytest.fixture(scope="module")
def public(db, keys):
    with serve_in_thread(create_app(db)) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def private(db, keys):
    with serve_in_thread(create_app(db, public_reads=False)) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def write(client, key=None, bearer=False, status="scheduled"):
    headers = {} if key is None else ({"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key})
    return client.post("/defects/2/status", json={"status": status, "note": "auth test"}, headers=headers)


def assert_ogc(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["description"]


def test_only_the_hash_of_a_key_is_stored(db, keys):
    with open_store(db) as store, store.engine.connect() as conn:
        stored = {row[0] for row in conn.exec_driver_sql("select key_hash from api_keys")}
        listed = list_keys(store)
    assert hash_key(keys["crew"]) in stored and keys["crew"] not in stored
    assert all("key_hash" not in row for row in listed)
    assert {r["name"]: r["role"] for r in listed} == {"viewer-1": "viewer", "crew-1": "crew", "admin-1": "admin",
                                                     "gone": "admin"}


@pytest.mark.parametrize("path", READS)
def test_public_reads_need_no_key(public, path):
    assert public.get(path).status_code == 200


@pytest.mark.parametrize("path", READS)
def test_private_reads_need_a_valid_key(private, keys, path):
    r = private.get(path)
    assert_ogc(r, 401, "Unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_ogc(private.get(path, headers={"X-API-Key": "rsk_not-a-key"}), 401, "Unauthorized")
    assert_ogc(private.get(path, headers={"X-API-Key": keys["revoked"]}), 401, "Unauthorized")
    for role in ("viewer", "crew", "admin"):
        assert private.get(path, headers={"X-API-Key": keys[role]}).status_code == 200
    assert private.get(path, headers={"Authorization": f"Bearer {keys['viewer']}"}).status_code == 200


def test_a_wrong_key_is_refused_even_where_reads_are_public(public):
    assert_ogc(public.get("/worklists", headers={"X-API-Key": "rsk_wrong"}), 401, "Unauthorized")


@pytest.mark.parametrize("which", ["public", "private"])
def test_writes_need_crew_or_admin(request, keys, which):
    client = request.getfixturevalue(which)
    assert_ogc(write(client), 401, "Unauthorized")
    assert_ogc(write(client, "rsk_wrong"), 401, "Unauthorized")
    r = write(client, keys["revoked"])
    assert_ogc(r, 401, "Unauthorized")
    assert "revoked" in r.json()["description"]
    r = write(client, keys["viewer"])
    assert_ogc(r, 403, "Forbidden")
    assert "viewer" in r.json()["description"]
    assert write(client, keys["crew"]).status_code == 200
    assert write(client, keys["admin"], bearer=True).status_code == 200
    photo = client.post("/defects/2/photos", files={"file": ("a.jpg", b"x", "image/jpeg")},
                        headers={"X-API-Key": keys["viewer"]})
    assert_ogc(photo, 403, "Forbidden")


def test_history_names_the_key_that_wrote(public, keys):
    write(public, keys["crew"], status="fixed")
    last = public.get("/defects/2/history").json()["history"][-1]
    assert last["status"] == "fixed" and last["by"] == "crew-1"


def test_a_revoked_key_stops_working_at_once(db, public):
    with open_store(db) as store:
        _, key = create_key(store, "temp", "crew")
    assert write(public, key).status_code == 200
    with open_store(db) as store:
        revoke_key(store, "temp")
    assert_ogc(write(public, key), 401, "Unauthorized")


def test_key_management_errors_say_what_to_do(db):
    with open_store(db) as store:
        with pytest.raises(ConfigError, match="unknown role"):
            create_key(store, "x", "boss")
        with pytest.raises(ConfigError, match="exists already"):
            create_key(store, "crew-1", "crew")
        with pytest.raises(ConfigError, match="no API key"):
            revoke_key(store, "nobody")
        with pytest.raises(ConfigError, match="revoked already"):
            revoke_key(store, "gone")


def test_keys_commands(db):
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--name", "crew-cli", "--role", "crew", "--db", str(db)])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("rsk_")
    listed = runner.invoke(cli, ["keys", "list", "--db", str(db)])
    assert "crew-cli" in listed.stdout and key not in listed.stdout
    assert runner.invoke(cli, ["keys", "revoke", "crew-cli", "--db", str(db)]).exit_code == 0
    with open_store(db) as store:
        row = next(r for r in list_keys(store) if r["name"] == "crew-cli")
    assert row["revoked_at"] is not None and row["role"] == "crew"
    missing = runner.invoke(cli, ["keys", "list", "--db", str(db.with_name("nope.db"))])
    assert missing.exit_code != 0


def test_serve_private_reads(db, keys, tmp_path):
    """`roadscan serve --private-reads`: the command line's switch reaches the app."""
    from roadscan.serve_process import start_server, stop_server

    proc, url = start_server(db, tmp_path / "serve.log", "--private-reads")
    try:
        assert httpx.get(f"{url}/worklists", timeout=10).status_code == 401
        assert httpx.get(f"{url}/worklists", headers={"X-API-Key": keys["viewer"]}, timeout=10).status_code == 200
    finally:
        stop_server(proc)
