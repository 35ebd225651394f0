"""Moving a whole store between engines (`roadscan db copy`): SQLite into PostGIS, PostGIS into SQLite.

Every table of the shared schema is copied row for row with its ids, in foreign-key order, inside one
transaction of the destination, in batches read and written without per-row conversion (times stay
the text they are stored as). PostgreSQL's id sequences are then set past the highest copied id, so
the next survey or key gets a fresh one; the row counts of both sides are compared before the commit,
so a copy that lost anything is rolled back rather than left half-written. A destination that holds
data is refused unless `replace`, which empties it in the same transaction.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, MetaData, String, Table, delete, func, select, text

from roadscan.api.store import postgis, schema
from roadscan.api.store.database import Store, database_errors
from roadscan.core.errors import StoreError

BATCH = 5_000  # rows per read and per multi-row insert

# (table name, rows done, rows in all); called after every batch
Progress = Callable[[str, int, int], None]


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied (and verified)
    images: int = 0  # image files copied into the destination's image folder


def _raw(table: Table, metadata: MetaData) -> Table:
    """The table with its times as the plain text they are stored as: copied without parsing each one."""
    raw = table.to_metadata(metadata)
    for col in raw.c:
        if isinstance(col.type, schema.UTCDateTime):
            col.type = String(32)
    return raw


def data_tables() -> list[Table]:
    """The tables a copy moves, parents before children (meta is each store's own)."""
    return [t for t in schema.metadata.sorted_tables if t.name != "meta"]


def row_counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in data_tables()}


def copy_store(src: Store, dst: Store, *, replace: bool = False, on_progress: Progress | None = None,
               images: bool = True) -> CopyReport:
    """Copy every row of `src` into `dst` (same schema version: both are opened, so migrated, first)."""
    report = CopyReport()
    raw_md = MetaData()
    tables = data_tables()
    with database_errors(src.location, "cannot read the source store"), src.engine.connect() as read:
        totals = row_counts(read)
        with database_errors(dst.location, "cannot write the destination store"), dst.engine.begin() as write:
            held = {name: n for name, n in row_counts(write).items() if n}
            if held and not replace:
                listed = ", ".join(f"{n} {name}" for name, n in held.items())
                raise StoreError(f"is not empty ({listed})", path=dst.location,
                                 hint="copy into an empty store, or add --replace to overwrite everything in it")
            for table in reversed(tables):
                if held.get(table.name):
                    write.execute(delete(table))
            for table in tables:
                raw = _raw(table, raw_md)
                total, done = totals[table.name], 0
                if on_progress:
                    on_progress(table.name, 0, total)
                pk = list(raw.primary_key.columns)
                result = read.execution_options(yield_per=BATCH).execute(select(raw).order_by(*pk))
                for rows in result.partitions():
                    write.execute(raw.insert(), [r._asdict() for r in rows])
                    done += len(rows)
                    if on_progress:
                        on_progress(table.name, done, total)
                report.rows[table.name] = done
            if postgis.is_postgres(write):
                reset_sequences(write)
            copied = row_counts(write)
            if copied != totals:
                wrong = {k: (totals[k], copied[k]) for k in totals if totals[k] != copied[k]}
                raise StoreError(f"the copy does not hold what the source holds (source, copy): {wrong}; nothing "
                                 "was written", path=dst.location)
    if images:
        report.images = copy_images(src, dst)
    return report


def reset_sequences(conn: Connection) -> None:
    """PostgreSQL: each integer id's sequence past the highest id stored (ids were copied, not drawn)."""
    for table in data_tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or pk[0].name != "id":
            continue
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                          f"COALESCE(MAX(id), 0) + 1, false) FROM {table.name}"))


def copy_images(src: Store, dst: Store) -> int:
    """The frame images and photos the rows point to, into the destination's image folder (kept where the
    two folders are one)."""
    if not src.images_dir.is_dir():
        return 0
    if dst.images_dir.exists() and dst.images_dir.resolve() == src.images_dir.resolve():
        return 0
    n = 0
    for path in src.images_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            target = dst.images_dir / path.relative_to(src.images_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            n += 1
    return n
