"""Opening a store: the embedded SQLite file by default, any SQLAlchemy URL otherwise.

The schema version lives in the `meta` table from day one, so that later releases can migrate a
store in place; a store written by a newer roadscan is refused rather than damaged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.exc import DatabaseError, OperationalError

from roadscan.api.store import schema
from roadscan.core.errors import StoreError

DEFAULT_DB = "roadscan.db"

def _v1_to_v2(conn: Connection) -> None:
    """Road network, defects, status history, coverage and condition; observations learn their place."""
    for column in ("segment_id VARCHAR(40)", "chainage_m FLOAT", "side VARCHAR(8)", "offset_m FLOAT",
                   "on_network INTEGER", "defect_id INTEGER REFERENCES defects(id) ON DELETE SET NULL"):
        conn.exec_driver_sql(f"ALTER TABLE observations ADD COLUMN {column}")
    new_tables = [schema.segments, schema.defects, schema.defect_history, schema.coverage, schema.segment_condition]
    schema.metadata.create_all(conn, tables=new_tables)
    for index in schema.observations.indexes:
        if index.name == "ix_observations_defect":
            index.create(conn)


def _v2_to_v3(conn: Connection) -> None:
    """API keys and defect photos (new tables only; nothing existing changes)."""
    schema.metadata.create_all(conn, tables=[schema.api_keys, schema.defect_photos])


def _v3_to_v4(conn: Connection) -> None:
    """Photos record their anonymisation; those already stored have none (NULL) until `roadscan anonymise`."""
    # A store migrated from schema 2 in this same run got the table in its current shape from _v2_to_v3.
    if "anonymised" not in {c["name"] for c in inspect(conn).get_columns("defect_photos")}:
        conn.exec_driver_sql("ALTER TABLE defect_photos ADD COLUMN anonymised TEXT")


# Migrations from version N to N+1, run in one transaction each.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


class Store:
    """A database plus the folder holding the frame images that its rows point to."""

    def __init__(self, engine: Engine, images_dir: Path, location: str):
        self.engine = engine
        self.images_dir = images_dir
        self.location = location

    def image_file(self, relative: str | None) -> Path | None:
        """The file a stored relative image path names, if it exists inside the image folder; None
        otherwise (a tampered row or a symbolic link must not lead out of it)."""
        if not relative:
            return None
        root = self.images_dir.resolve()
        path = (root / relative).resolve()
        return path if path.is_relative_to(root) and path.is_file() else None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def default_db_path() -> Path:
    return Path(os.environ.get("ROADSCAN_DB", DEFAULT_DB))


def _sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", future=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        # Foreign keys make deletes cascade; WAL lets the API read while a survey is being written.
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def open_store(db: str | Path | None = None) -> Store:
    """Open (creating or migrating as needed) the store at a file path or a SQLAlchemy URL."""
    db = default_db_path() if db is None else db
    if "://" in str(db):
        engine = create_engine(str(db), future=True)
        images_dir = Path(os.environ.get("ROADSCAN_IMAGES", "roadscan-images"))
        where = str(db)
    else:
        path = Path(db).expanduser().resolve()
        if path.is_dir():
            raise StoreError("is a folder, not a database file", path=path,
                             hint="give a file name such as roadscan.db")
        if not path.parent.is_dir():
            raise StoreError("cannot create the database: its folder does not exist", path=path)
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise StoreError("the database is not writable", path=path,
                             hint="choose another --db path or fix the permissions")
        engine = _sqlite_engine(path)
        images_dir = path.with_name(path.stem + "-images")
        where = str(path)
    try:
        _ensure_schema(engine, where)
    except (OperationalError, DatabaseError) as exc:
        engine.dispose()
        raise StoreError(f"cannot open the database ({exc.orig})", path=where) from None
    return Store(engine, images_dir, where)


def _ensure_schema(engine: Engine, where: str) -> None:
    with engine.begin() as conn:
        if not inspect(conn).has_table("meta"):
            schema.metadata.create_all(conn)
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
            return
        version = int(conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar_one())
    if version > schema.SCHEMA_VERSION:
        raise StoreError(f"was written by a newer roadscan (schema {version}, this one knows {schema.SCHEMA_VERSION})",
                         path=where, hint="upgrade roadscan")
    while version < schema.SCHEMA_VERSION:
        with engine.begin() as conn:
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version").values(value=str(version)))


def schema_version(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar_one())
