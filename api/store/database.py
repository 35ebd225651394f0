"""Opening a store: the embedded SQLite file by default, any SQLAlchemy URL otherwise.

The schema version lives in the `meta` table from day one, so that later releases can migrate a
store in place; a store written by a newer roadscan is refused rather than damaged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, make_url, select, update
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError, OperationalError

from roadscan.api.store import schema
from roadscan.core.errors import StoreError

DEFAULT_DB = "roadscan.db"
NO_STORE_HINT = ("run `roadscan demo` (it writes ./roadscan.db) or `roadscan process FOOTAGE ...` first, "
                 "or give --db of an existing store")

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


def _v4_to_v5(conn: Connection) -> None:
    """Indexes that keep a survey's write bounded by its own area, whatever the store holds (issue 13)."""
    for index in schema.INGEST_INDEXES:
        index.create(conn, checkfirst=True)


# Since schema 6 (issue 14): columns added to existing tables, by table.
V6_COLUMNS = {
    "segments": ("source_id VARCHAR(100)", "source_kind VARCHAR(32)", "municipality_code VARCHAR(16)",
                 "road_code VARCHAR(100)", "road_start_m FLOAT"),
    "defects": ("source_id VARCHAR(100)", "source_kind VARCHAR(32)", "municipality_code VARCHAR(16)",
                "road_code VARCHAR(100)", "road_chainage_m FLOAT", "external_ref VARCHAR(200)"),
    "defect_history": ("external_ref VARCHAR(200)",),
}


def _v5_to_v6(conn: Connection) -> None:
    """The source network's road reference on segments and defects; a defect's external reference (and
    its history). Rows stored before have NULL there until a survey updates them."""
    for table, columns in V6_COLUMNS.items():
        have = {c["name"] for c in inspect(conn).get_columns(table)}  # tables made by an earlier step have them
        for column in columns:
            if column.split()[0] not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")


def _v6_to_v7(conn: Connection) -> None:
    """A defect's evidence and the other classes seen at its spot. Stored defects get their evidence by
    the default rule (geo/scoring.toml [evidence]); their severity is capped when a survey next scores them."""
    from roadscan.geo.scoring import default_scoring

    rule = default_scoring().evidence
    have = {c["name"] for c in inspect(conn).get_columns("defects")}  # made in this shape by an earlier step
    if "evidence" not in have:
        conn.exec_driver_sql("ALTER TABLE defects ADD COLUMN evidence VARCHAR(16) NOT NULL DEFAULT 'confirmed'")
    if "other_classes" not in have:
        conn.exec_driver_sql("ALTER TABLE defects ADD COLUMN other_classes VARCHAR(100)")
    conn.execute(update(schema.defects).where(schema.defects.c.n_obs < rule.min_sightings,
                                              schema.defects.c.max_confidence < rule.confident)
                 .values(evidence="unconfirmed"))


# Migrations from version N to N+1, run in one transaction each.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5,
                                                    5: _v5_to_v6, 6: _v6_to_v7}


class Store:
    """A database plus the folder holding the frame images that its rows point to."""

    def __init__(self, engine: Engine, images_dir: Path, location: str, *, created: Path | None = None):
        self.engine = engine
        self.images_dir = images_dir
        self.location = location
        self.created = created  # the SQLite file this open created, if it did
        self.upgraded: tuple[int, int] = (0, 0)  # schema versions before and after this open (0: created)

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

    def __exit__(self, exc_type, *exc) -> None:
        """Close; a store this open created is removed again when the block fails before storing a survey,
        so that a failed first run leaves no empty database (and image folder) behind."""
        empty = exc_type is not None and self.created is not None and self._holds_no_survey()
        self.close()
        if empty:
            _remove_sqlite_files(self.created, self.images_dir)

    def _holds_no_survey(self) -> bool:
        try:
            with self.engine.connect() as conn:
                return not conn.execute(select(func.count()).select_from(schema.surveys)).scalar_one()
        except DatabaseError:
            return False


def originals_root(images_dir: Path) -> Path:
    """The folder of unmasked originals (`--keep-originals`): beside the image folder, never inside it."""
    return images_dir.with_name(images_dir.name + "-originals")


def _remove_sqlite_files(path: Path, images_dir: Path) -> None:
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        name.unlink(missing_ok=True)
    for folder in (images_dir, originals_root(images_dir)):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


def is_url(db: str | Path) -> bool:
    """A SQLAlchemy database URL (sqlite:////abs.db, postgresql://...) rather than a file path."""
    return "://" in str(db)


def default_db_path() -> str | Path:
    """The store every command opens without --db: $ROADSCAN_DB (a file or a URL) or ./roadscan.db."""
    value = os.environ.get("ROADSCAN_DB") or DEFAULT_DB
    return value if is_url(value) else Path(value)


def _url_engine(url: str) -> Engine:
    from roadscan.api.store import postgis

    try:
        target = postgis.engine_url(url)
        return create_engine(target, future=True, **postgis.engine_options(target))
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"is not a database URL roadscan can read ({exc})", path=url,
                         hint="a SQLite file (roads.db), sqlite:////absolute/path.db or postgresql://...") from None
    except ImportError as exc:
        raise StoreError(f"needs a database driver that is not installed ({exc.name or exc})", path=url,
                         hint="install the driver for this database (PostgreSQL: pip install 'roadscan[postgres]')") from None


def _sqlite_file(url: str) -> Path | None:
    """The file a sqlite:/// URL names (opened like a path: same pragmas, images beside it); else None."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"is not a database URL roadscan can read ({exc})", path=url,
                         hint="a SQLite file (roads.db), sqlite:////absolute/path.db or postgresql://...") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


def _sqlite_engine(path: Path) -> Engine:
    # The pool grows with the server's threads rather than make a request wait for a free connection
    # (a wait past the pool's timeout was a 500 under load); a SQLite connection is cheap to open.
    engine = create_engine(f"sqlite:///{path}", future=True, pool_size=5, max_overflow=-1)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):
        # A writer waits up to 60 s for another's write lock (a survey being stored, 16 crews at once)
        # rather than fail after SQLite's default 5 s with "database is locked" (issue 15).
        # Foreign keys make deletes cascade; WAL lets the API read while a survey is being written
        # (set when it is not yet: the file keeps its mode).
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def open_store(db: str | Path | None = None, *, create: bool = True) -> Store:
    """Open (migrating as needed) the store at a file path or a SQLAlchemy URL; `create`: make it if absent.

    Commands that only read (or change what is stored) pass create=False, so that a mistyped --db
    or a run in the wrong folder is told "no store here" instead of silently getting an empty one.
    """
    db = default_db_path() if db is None else db
    created = None
    if is_url(db):
        db = _sqlite_file(str(db)) or str(db)
    if is_url(db):
        engine = _url_engine(str(db))
        images_dir = Path(os.environ.get("ROADSCAN_IMAGES", "roadscan-images"))
        where = make_url(str(db)).render_as_string(hide_password=True)  # as given, but never the password
    else:
        path = Path(db).expanduser().resolve()
        if path.is_dir():
            raise StoreError("is a folder, not a database file", path=path,
                             hint="give a file name such as roadscan.db")
        if not path.exists() and not create:
            raise StoreError("no store here", path=path, hint=NO_STORE_HINT)
        if not path.parent.is_dir():
            raise StoreError("cannot create the database: its folder does not exist", path=path)
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise StoreError("the database is not writable", path=path,
                             hint="choose another --db path or fix the permissions")
        created = None if path.exists() else path
        engine = _sqlite_engine(path)
        images_dir = path.with_name(path.stem + "-images")
        where = str(path)
    try:
        with database_errors(where, "cannot open the database"):
            upgraded = _ensure_schema(engine, where, create=create)
    except StoreError:
        engine.dispose()
        if created is not None:
            _remove_sqlite_files(created, images_dir)
        raise
    store = Store(engine, images_dir, where, created=created)
    store.upgraded = upgraded
    return store


def _read_version(conn: Connection, where: str) -> int:
    raw = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar_one_or_none()
    try:
        version = int(raw)
    except (TypeError, ValueError):
        version = 0
    if version < min(MIGRATIONS):
        what = "has no schema version" if raw is None else f"has a schema version roadscan never wrote ({raw!r})"
        raise StoreError(f"{what}: it is not a roadscan store, or it was damaged", path=where,
                         hint="give --db of a store roadscan made, or restore this one from a backup")
    return version


def _ensure_schema(engine: Engine, where: str, *, create: bool = True) -> tuple[int, int]:
    """Create or migrate the schema; returns the versions before and after (0 before: created now).

    On PostgreSQL each step holds a transaction-level advisory lock and reads the version again, so that
    concurrent first opens (two `roadscan process` runs on an empty database, API servers starting
    together) create or migrate it once; PostGIS's own columns and indexes come last (postgis.py).
    """
    from roadscan.api.store import postgis

    with engine.begin() as conn:
        postgis.lock_schema(conn)
        if not inspect(conn).has_table("meta"):
            if not create:
                raise StoreError("holds no roadscan store", path=where, hint=NO_STORE_HINT)
            schema.metadata.create_all(conn)
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
            if postgis.is_postgres(conn):
                postgis.ensure_postgis(conn, where)
            return 0, schema.SCHEMA_VERSION
        version = before = _read_version(conn, where)
    if version > schema.SCHEMA_VERSION:
        raise StoreError(f"was written by a newer roadscan (schema {version}, this one knows {schema.SCHEMA_VERSION})",
                         path=where, hint="upgrade roadscan")
    while version < schema.SCHEMA_VERSION:
        with engine.begin() as conn:
            postgis.lock_schema(conn)
            version = _read_version(conn, where)  # another process may have migrated it meanwhile
            if version >= schema.SCHEMA_VERSION:
                break
            MIGRATIONS[version](conn)
            version += 1
            conn.execute(schema.meta.update().where(schema.meta.c.key == "schema_version").values(value=str(version)))
    if postgis.is_postgres(engine):
        with engine.begin() as conn:
            postgis.lock_schema(conn)
            postgis.ensure_postgis(conn, where)
    return before, version


def upgrade_store(db: str | Path | None = None) -> tuple[str, int, int]:
    """`roadscan db upgrade`: open an existing store, migrating it; its location and versions before and after."""
    store = open_store(db, create=False)
    try:
        return store.location, store.upgraded[0], store.upgraded[1]
    finally:
        store.close()


def schema_version(store: Store) -> int:
    with store.engine.connect() as conn:
        return _read_version(conn, store.location)


# What the database answered, in words a user can act on (SQLite's messages; other engines say more).
_DATABASE_TROUBLE = (
    ("disk is full", "the disk is full", "free some space and run again; nothing was stored"),
    ("disk i/o error", "the database file cannot be written (disk I/O error: a full disk or a file size limit?)",
     "free some space or check the disk, then run again; nothing was stored"),
    ("malformed", "the database file is damaged (database disk image is malformed)",
     "restore it from a backup, or save what is readable: sqlite3 OLD.db .recover | sqlite3 NEW.db"),
    ("not a database", "cannot open the database: the file is not a SQLite database",
     "give --db of a store roadscan made"),
    ("locked", "the database is busy: another program holds a lock on it", "wait for it to finish and run again"),
    ("readonly", "the database is read-only", "choose another --db path or fix the permissions"),
)


class WriteConflict(StoreError):
    """A write broke a constraint of what is stored: another writer stored the same thing first (a race
    the caller can name better), or a bug."""


@contextmanager
def database_errors(where: str | Path, doing: str = "database error") -> Iterator[None]:
    """Errors the database file or its disk cause (full, damaged, locked) as a StoreError naming the file;
    a broken constraint as a WriteConflict."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict(f"the write conflicts with what is stored ({exc.orig})", path=where) from exc
    except (OperationalError, DatabaseError) as exc:
        text = str(exc.orig if exc.orig is not None else exc)
        for key, message, hint in _DATABASE_TROUBLE:
            if key in text.lower():
                raise StoreError(message, path=where, hint=hint) from None
        raise StoreError(f"{doing} ({text})", path=where) from None
