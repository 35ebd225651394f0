"""Filters as a GIS user sets them in a client (GDAL, QGIS), each with the SQL count it must give.

`filter_store` copies the live API's sample store and gives its defects a mix of statuses (so that
`updated_at` splits them: the survey's time for some, the status change's for others); `filter_cases`
picks thresholds from the stored values (whole seconds, as GDAL writes them) and says, for each case,
the OGR SQL `where`, the QGIS expression, and the SQL that counts the same defects in the store.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _api_copy import copy_live_store

STATUSES = ("fixed", "scheduled", "dismissed")  # given to the first defects by id; the rest stay open


def filter_store(folder: Path) -> Path:
    """A private copy of the sample store whose first defects were given other statuses a second later."""
    from roadscan.api.store.database import open_store
    from roadscan.api.store.defect_status import record_status

    db = copy_live_store(folder)
    time.sleep(1.1)  # the status changes' updated_at is a whole second after the survey's
    ids = [r[0] for r in sql(db, "SELECT id FROM defects ORDER BY id")]
    with open_store(db) as store:
        for defect_id, status in zip(ids, STATUSES):
            record_status(store, defect_id, status, note="client filter test", by="tests")
    return db


def sql(db: Path, query: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, params).fetchall()


def _stored(t: datetime) -> str:
    """A time as the store writes it (api/store/schema.UTCDateTime), for text comparison in SQLite."""
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _z(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Case:
    name: str
    ogr: str  # OGR SQL where (GDAL)
    qgis: str  # QGIS expression (setSubsetString)
    sql: str  # WHERE of a count over defects
    params: tuple = ()
    time_property: str | None = None  # the property a client folds this filter into `datetime` for

    def count(self, db: Path) -> int:
        return sql(db, f"SELECT count(*) FROM defects WHERE {self.sql}", self.params)[0][0]


def _between(values: list[datetime]) -> datetime:
    """A whole second that splits the values (some at or before it, some after), as near the middle as may be."""
    values = sorted(values)
    middle = values[len(values) // 2 - 1]
    cut = middle.replace(microsecond=0) + timedelta(seconds=1)
    return cut if any(v > cut for v in values) else middle.replace(microsecond=0)


def filter_cases(db: Path) -> list[Case]:
    rows = sql(db, "SELECT severity, last_seen, updated_at FROM defects")
    severities = sorted(r[0] for r in rows)
    sev = severities[len(severities) // 2]
    last = _between([datetime.fromisoformat(r[1]) for r in rows])
    updated = _between([datetime.fromisoformat(r[2]) for r in rows])
    cases = [
        Case("severity", f"severity >= {sev}", f'"severity" >= {sev}', "severity >= ?", (sev,)),
        Case("status", "status = 'open'", "\"status\" = 'open'", "status = 'open'"),
        Case("severity and status (CQL2)", f"severity >= {sev} AND status <> 'fixed'",
             f"\"severity\" >= {sev} AND \"status\" <> 'fixed'", "severity >= ? AND status <> 'fixed'", (sev,)),
        Case("status in (CQL2 OR)", "status = 'scheduled' OR status = 'dismissed'",
             "\"status\" = 'scheduled' OR \"status\" = 'dismissed'", "status IN ('scheduled', 'dismissed')"),
        Case("updated_at, open start", f"updated_at <= '{_z(updated)}'", f"\"updated_at\" <= '{_z(updated)}'",
             "updated_at <= ?", (_stored(updated),), "updated_at"),
        Case("updated_at, open end", f"updated_at >= '{_z(updated)}'", f"\"updated_at\" >= '{_z(updated)}'",
             "updated_at >= ?", (_stored(updated),), "updated_at"),
        Case("last_seen, open start", f"last_seen <= '{_z(last)}'", f"\"last_seen\" <= '{_z(last)}'",
             "last_seen <= ?", (_stored(last),), "last_seen"),
    ]
    for case in cases:  # each case must select some defects and leave out others, or it proves little
        assert 0 < case.count(db) < len(rows), (case.name, case.count(db), len(rows))
    return cases


def bbox_case(db: Path) -> tuple[tuple[float, float, float, float], int]:
    """A lon/lat box around about half the defects, and how many lie in it by SQL."""
    rows = sorted(sql(db, "SELECT lon, lat FROM defects"))
    mid = (rows[len(rows) // 2 - 1][0] + rows[len(rows) // 2][0]) / 2
    box = (min(r[0] for r in rows) - 1e-4, min(r[1] for r in rows) - 1e-4, mid, max(r[1] for r in rows) + 1e-4)
    n = sql(db, "SELECT count(*) FROM defects WHERE lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?",
            (box[0], box[2], box[1], box[3]))[0][0]
    assert 0 < n < len(rows)
    return box, n
