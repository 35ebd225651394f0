"""What only PostgreSQL/PostGIS stores have: point geometry for the defects, its GiST indexes, the
driver, and the answers a server gives under concurrent writers.

The schema (schema.py) is one for both engines: plain lon/lat columns. On PostgreSQL the defects
table also gets two generated geometry columns, computed by the database from lon/lat on every
write, so that no verb has to write them and `roadscan db copy` moves only the shared columns:

* `geom`, Point in EPSG:4326 -- bbox and CQL2 spatial filters (`&&`, ST_Intersects) on its GiST index;
* `geom_3857`, Point in Web Mercator -- vector tiles (ST_AsMVT) without a transform per row.

`ensure_postgis` adds them (and the extension) when a store is created or opened; it is idempotent,
so a store made by an older roadscan, or copied in by `db copy`, gets them on its next open.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, func, literal, literal_column, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from roadscan.core.errors import StoreError

GEOM = "geom"  # defects.geom: Point, EPSG:4326
GEOM_3857 = "geom_3857"  # defects.geom_3857: Point, Web Mercator
SURVEY_WRITE_LOCK = 0x524F4144  # pg_advisory_xact_lock key: one survey transaction at a time ("ROAD")
SCHEMA_LOCK = 0x524F4145  # and one creation or migration of the schema at a time

# Deadlock, serialization failure, lock not available: the transaction is safe to run again.
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}
UNIQUE_VIOLATION = "23505"

_DDL = [
    "ALTER TABLE defects ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326) "
    "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED",
    "ALTER TABLE defects ADD COLUMN IF NOT EXISTS geom_3857 geometry(Point, 3857) "
    "GENERATED ALWAYS AS (ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 3857)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_defects_geom ON defects USING gist (geom)",
    "CREATE INDEX IF NOT EXISTS ix_defects_geom_3857 ON defects USING gist (geom_3857)",
]


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def engine_url(url: str) -> str | URL:
    """postgresql:// (and postgres://) as SQLAlchemy's psycopg 3 URL; other URLs as given.

    SQLAlchemy's default PostgreSQL driver is psycopg2; roadscan's `postgres` extra installs psycopg 3.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return url


def engine_options(url: str | URL) -> dict[str, Any]:
    """create_engine options for a server database: a pool sized for the API's threads, checked before use
    (a server restarted under a long-running API is reconnected, not answered with 500s)."""
    if (url if isinstance(url, URL) else make_url(url)).get_backend_name() != "postgresql":
        return {}
    return {"pool_size": 10, "max_overflow": 40, "pool_pre_ping": True}


def ensure_postgis(conn: Connection, where: str) -> None:
    """The PostGIS extension and the defects' geometry columns and GiST indexes (idempotent)."""
    has = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).scalar()
    if not has:
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except DBAPIError as exc:
            raise StoreError(f"needs the PostGIS extension, which this database lacks and this user may not create "
                             f"({str(exc.orig).strip().splitlines()[0]})", path=where,
                             hint="as a superuser: CREATE EXTENSION postgis; in this database (Debian: "
                                  "apt-get install postgresql-15-postgis-3)") from None
    present = set(conn.execute(text("SELECT column_name FROM information_schema.columns "
                                    "WHERE table_schema = current_schema() AND table_name = 'defects'")).scalars())
    index_names = set(conn.execute(text("SELECT indexname FROM pg_indexes "
                                        "WHERE schemaname = current_schema() AND tablename = 'defects'")).scalars())
    if {GEOM, GEOM_3857} <= present and {"ix_defects_geom", "ix_defects_geom_3857"} <= index_names:
        return
    for statement in _DDL:
        conn.execute(text(statement))


def lock_schema(conn: Connection) -> None:
    """Hold, until this transaction ends, the lock under which a store is created or migrated (PostgreSQL)."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})


def lock_survey_writes(conn: Connection) -> None:
    """Hold, until this transaction ends, the store's survey write lock: surveys merge against what is
    stored, so two written at once would each miss the other's defects (and both add the same one).
    SQLite needs nothing: it has one writer at a time."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SURVEY_WRITE_LOCK})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (psycopg's `sqlstate`), None for other errors and SQLite."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def retryable(exc: BaseException) -> bool:
    """A PostgreSQL error after which the whole transaction may simply run again."""
    return sqlstate(exc) in RETRYABLE_SQLSTATES


def defects_column(name: str = GEOM) -> ColumnElement:
    """defects.geom (or geom_3857) for expressions: the column is not in the shared schema."""
    return literal_column(f"defects.{name}")


def envelope(minx: float, miny: float, maxx: float, maxy: float) -> ColumnElement:
    return func.ST_MakeEnvelope(literal(minx), literal(miny), literal(maxx), literal(maxy), 4326)


def intersects_box(box: tuple[float, float, float, float]) -> ColumnElement:
    """defects.geom in a lon/lat box, on the GiST index (`&&` is exact for points, edges included)."""
    return defects_column(GEOM).op("&&")(envelope(*box))


def intersects_wkt(wkt: str) -> ColumnElement:
    """defects.geom intersecting a CRS84 geometry given as WKT: the GiST index, then the exact test."""
    return func.ST_Intersects(defects_column(GEOM), func.ST_GeomFromText(literal(wkt), 4326))
