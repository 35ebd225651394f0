"""A defect's status as people set it, with its history: who set which status, when and why.

Surveys change statuses too (reopen, "not re-observed"), in their own transaction (defects.py);
both write the same history, so it tells one story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select, update

from roadscan.api.store import schema
from roadscan.api.store.busy import retry_when_locked
from roadscan.api.store.database import Store


@dataclass(frozen=True)
class StatusRecord:
    status: str
    history: list[dict[str, Any]]  # status, note, by, at, survey_id; oldest first


def defect_status(store: Store, defect_id: int) -> str | None:
    """The defect's status; None when there is no such defect."""
    with store.engine.connect() as conn:
        return _status(conn, defect_id)


def status_history(store: Store, defect_id: int) -> StatusRecord | None:
    """The defect's status and its history; None when there is no such defect."""
    with store.engine.connect() as conn:
        status = _status(conn, defect_id)
        return None if status is None else StatusRecord(status, _history(conn, defect_id))


def record_status(store: Store, defect_id: int, status: str, *, note: str | None, by: str) -> StatusRecord | None:
    """Set the status a person chose and add it to the history, in one transaction; None when there
    is no such defect. Waits for the write lock while another writer holds it (busy.py)."""
    d = schema.defects

    def write() -> StatusRecord | None:
        now = datetime.now(timezone.utc)
        with store.engine.begin() as conn:
            if _status(conn, defect_id) is None:
                return None
            conn.execute(update(d).where(d.c.id == defect_id).values(status=status, updated_at=now))
            add_history(conn, defect_id, status, note, by=by, at=now)
            return StatusRecord(status, _history(conn, defect_id))

    return retry_when_locked(write)


def add_history(conn: Connection, defect_id: int, status: str, note: str | None, *, by: str, at: datetime,
                survey_id: int | None = None) -> None:
    """One entry of a defect's history, written by a person's status update or by a survey."""
    conn.execute(schema.defect_history.insert().values(defect_id=defect_id, status=status, note=note, by=by, at=at,
                                                        survey_id=survey_id))


def _status(conn: Connection, defect_id: int) -> str | None:
    return conn.execute(select(schema.defects.c.status).where(schema.defects.c.id == defect_id)).scalar()


def _history(conn: Connection, defect_id: int) -> list[dict[str, Any]]:
    h = schema.defect_history
    rows = conn.execute(select(h.c.status, h.c.note, h.c.by, h.c.at, h.c.survey_id)
                        .where(h.c.defect_id == defect_id).order_by(h.c.at, h.c.id)).mappings().all()
    return [dict(r) for r in rows]
