"""The store's data version: a cheap token that changes whenever served data may have changed.

Whatever is derived from the whole store and costly to recompute (vector tiles, collection extents)
is cached under it.
"""

from __future__ import annotations

import os

from sqlalchemy import func, select

from roadscan.api.store import schema
from roadscan.api.store.database import Store


def data_version(store: Store) -> str:
    """Changes whenever the served data may have changed.

    The highest ids of the status history, surveys, defects and condition rows (a status change
    appends history; a survey adds a survey and recomputes the rest): primary-key lookups, no scans.
    SQLite adds the size and modification time of the database file and its write-ahead log (a stat),
    which catches any other change; PostgreSQL adds its current snapshot (which transactions are running
    and which are done: it changes with every commit that wrote, and not with vacuum or hint bits, unlike
    the write-ahead log's position; no count of a million rows per tile); other databases add the row
    counts of the two tables.
    """
    d, c = schema.defects, schema.segment_condition
    with store.engine.connect() as conn:
        highest = [select(func.max(t.c.id)).scalar_subquery() for t in (schema.defect_history, schema.surveys, d, c)]
        parts = [repr(tuple(conn.execute(select(*highest)).one()))]
        url = store.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
                and not url.database.startswith("file:"):
            for suffix in ("", "-wal"):
                try:
                    st = os.stat(url.database + suffix)
                    parts.append(f"{st.st_size}:{st.st_mtime_ns}")
                except FileNotFoundError:
                    parts.append("-")
        elif url.get_backend_name() == "postgresql":  # the transactions running and done: any commit changes it
            parts.append(str(conn.execute(select(func.pg_current_snapshot())).scalar_one()))
        else:
            parts.append(repr(tuple(conn.execute(select(select(func.count()).select_from(d).scalar_subquery(),
                                                        select(func.count()).select_from(c).scalar_subquery())).one())))
    return "|".join(parts)
