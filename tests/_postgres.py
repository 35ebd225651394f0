"""A throwaway PostgreSQL 15 + PostGIS cluster for the test session, from Debian's packages.

`start_cluster()` runs initdb and pg_ctl (as the `postgres` user through runuser when the tests run as
root, which PostgreSQL refuses to be) in a temporary folder, on a free local port with a socket folder
of its own, with durability off (fsync, synchronous commit: a test database lives seconds). A
template database holds the PostGIS extension, so `new_database()` is a quick CREATE DATABASE ...
TEMPLATE. The `postgres` fixture (conftest.py) starts it once per session, stops it at the end, and
skips the PostgreSQL half of the tests, saying why, when the packages are absent.

`BACKENDS` parametrises a test over both stores: `@both_backends` on a test whose fixtures build the
store through `backend` (conftest.py: `api`, `store_url`).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("ROADSCAN_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
TEMPLATE = "roadscan_template"
INSTALL_HINT = "apt-get install postgresql-15-postgis-3 (the README's test install)"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


class PostgresUnavailable(RuntimeError):
    """The cluster cannot be started here; the message says why (tests skip with it)."""


@dataclass
class Cluster:
    folder: Path
    port: int
    as_user: list[str]  # the command prefix that runs a binary as the cluster's owner

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE needs that); its rows."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database,
                             autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(statement)
            return cur.fetchall() if cur.description else []

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database with PostGIS; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        return self.url(name)

    def stop(self, remove: bool = True) -> None:
        """Stop the server; `remove`: and delete its folder (a kept cluster is stopped cleanly instead)."""
        if (self.folder / "data" / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m",
                            "immediate" if remove else "fast", "-w", "stop"], capture_output=True)
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _runner() -> tuple[list[str], str | None]:
    """How to run the server binaries: as ourselves, or (as root) as `postgres` through runuser."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("the tests run as root and there is no `postgres` user to run PostgreSQL as "
                                  f"({INSTALL_HINT} creates it)") from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("the tests run as root and `runuser` is missing (util-linux)")
    return ["runuser", "-u", "postgres", "--"], "postgres"


def start_cluster(folder: Path | None = None, *, settings: str = "") -> Cluster:
    """initdb, start, and a PostGIS template database; raises PostgresUnavailable with the reason.

    `folder`: a cluster kept there (made if absent, started again if it exists: the benchmarks keep
    their big stores between runs); default a new temporary one. `settings`: more `-c name=value`.
    """
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailable(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb is absent): {INSTALL_HINT}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("the psycopg driver is not installed (pip install -e '.[test]')") from None
    if not POSTGIS_CONTROL.exists():
        raise PostgresUnavailable(f"PostGIS is not installed ({POSTGIS_CONTROL} is absent): {INSTALL_HINT}")
    prefix, owner = _runner()
    kept = folder is not None and (folder / "data" / "PG_VERSION").exists()
    folder = Path(tempfile.mkdtemp(prefix="roadscan-pg-")) if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "socket").mkdir(exist_ok=True)
    if owner is not None:
        info = pwd.getpwnam(owner)
        for path in (folder, folder / "socket"):
            os.chown(path, info.pw_uid, info.pw_gid)
    cluster = Cluster(folder, _free_port(), prefix)
    data = folder / "data"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    steps = [] if kept else [
        [*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
         "--locale=C.UTF-8"]]
    steps += [
        [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60", "-o",
         f"-p {cluster.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder / 'socket'} "
         f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 {settings}", "start"],
    ]
    for step in steps:
        out = subprocess.run(step, capture_output=True, text=True, env=env, cwd=folder)
        if out.returncode:
            log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
            cluster.stop(remove=not kept)
            raise RuntimeError(f"{' '.join(step)} failed: {out.stdout}{out.stderr}{log}")
    atexit.register(cluster.stop, remove=folder.name.startswith("roadscan-pg-"))
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster.sql("SELECT 1")
            break
        except Exception:  # psycopg.OperationalError while it starts
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    if not cluster.sql(f"SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}'"):
        cluster.sql(f"CREATE DATABASE {TEMPLATE}")
        cluster.sql("CREATE EXTENSION postgis", TEMPLATE)
    return cluster


@lru_cache(maxsize=None)
def cluster_or_reason() -> Cluster | str:
    """The session's cluster, started on first use; or why there is none."""
    try:
        return start_cluster()
    except PostgresUnavailable as exc:
        return str(exc)


def postgres_cluster() -> Cluster:
    """The session's cluster; skips the calling test, saying why, when PostgreSQL cannot run here."""
    found = cluster_or_reason()
    if isinstance(found, str):
        pytest.skip(f"PostgreSQL/PostGIS tests skipped: {found}")
    return found
