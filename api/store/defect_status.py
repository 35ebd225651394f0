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


KEEP = object()  # record_status: leave the external reference as it is


@dataclass(frozen=True)
class StatusRecord:
    status: str
    history: list[dict[str, Any]]  # status, note, by, at, survey_id, external_ref; oldest first
    external_ref: str | None = None  # e.g. a citizen's service request id


def defect_status(store: Store, defect_id: int) -> str | None:
    """The defect's status; None when there is no such defect."""
    with store.engine.connect() as conn:
        return _status(conn, defect_id)


def status_history(store: Store, defect_id: int) -> StatusRecord | None:
    """The defect's status and its history; None when there is no such defect."""
    with store.engine.connect() as conn:
        row = _current(conn, defect_id)
        return None if row is None else StatusRecord(row.status, _history(conn, defect_id), row.external_ref)


def record_status(store: Store, defect_id: int, status: str | None, *, note: str | None, by: str,
                  external_ref: str | None | object = KEEP) -> StatusRecord | None:
    """Set the status a person chose (None: keep it) and/or the defect's external reference (KEEP: keep
    it; None or "": clear it), and add one history entry saying so, in one transaction; None when there
    is no such defect. Waits for the write lock while another writer holds it (busy.py)."""
    d = schema.defects

    def write() -> StatusRecord | None:
        now = datetime.now(timezone.utc)
        with store.engine.begin() as conn:
            row = _current(conn, defect_id)
            if row is None:
                return None
            values: dict[str, Any] = {"status": status or row.status, "updated_at": now}
            entry_ref = None
            if external_ref is not KEEP:
                values["external_ref"] = (str(external_ref).strip() or None) if external_ref is not None else None
                entry_ref = values["external_ref"] or ""  # "" in the history: cleared
            conn.execute(update(d).where(d.c.id == defect_id).values(**values))
            add_history(conn, defect_id, values["status"], note, by=by, at=now, external_ref=entry_ref)
            return StatusRecord(values["status"], _history(conn, defect_id),
                                values.get("external_ref", row.external_ref))

    return retry_when_locked(write)


def add_history(conn: Connection, defect_id: int, status: str, note: str | None, *, by: str, at: datetime,
                survey_id: int | None = None, external_ref: str | None = None) -> None:
    """One entry of a defect's history, written by a person's status update or by a survey; `external_ref`
    where the entry set the defect's external reference ("" where it cleared it)."""
    conn.execute(schema.defect_history.insert().values(defect_id=defect_id, status=status, note=note, by=by, at=at,
                                                        survey_id=survey_id, external_ref=external_ref))


def _current(conn: Connection, defect_id: int):
    d = schema.defects
    return conn.execute(select(d.c.status, d.c.external_ref).where(d.c.id == defect_id)).one_or_none()


def _status(conn: Connection, defect_id: int) -> str | None:
    return conn.execute(select(schema.defects.c.status).where(schema.defects.c.id == defect_id)).scalar()


def _history(conn: Connection, defect_id: int) -> list[dict[str, Any]]:
    h = schema.defect_history
    rows = conn.execute(select(h.c.status, h.c.note, h.c.by, h.c.at, h.c.survey_id, h.c.external_ref)
                        .where(h.c.defect_id == defect_id).order_by(h.c.at, h.c.id)).mappings().all()
    return [dict(r) for r in rows]
