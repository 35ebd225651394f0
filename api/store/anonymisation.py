"""What `roadscan anonymise` reads and records: the surveys (whose summary records the masking of
their frames) and the crews' photos stored before uploads were masked."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from roadscan.api.store import schema
from roadscan.api.store.database import Store


def survey_records(store: Store) -> list[dict[str, Any]]:
    """Every survey by id: id, name, fingerprint, camera (JSON) and summary (JSON)."""
    s = schema.surveys
    with store.engine.connect() as conn:
        rows = conn.execute(select(s.c.id, s.c.name, s.c.fingerprint, s.c.camera, s.c.summary)
                            .order_by(s.c.id)).mappings().all()
    return [dict(r) for r in rows]


def write_survey_summary(store: Store, survey_id: int, summary: dict[str, Any]) -> None:
    s = schema.surveys
    with store.engine.begin() as conn:
        conn.execute(update(s).where(s.c.id == survey_id).values(summary=json.dumps(summary, default=str)))


def unmasked_photos(store: Store) -> list[tuple[int, str]]:
    """(id, path) of the photos with no masking recorded, by id."""
    p = schema.defect_photos
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(p.c.id, p.c.path).where(p.c.anonymised.is_(None))
                                               .order_by(p.c.id)).all()]


def record_photo_masked(store: Store, photo_id: int, *, size: int, width: int, height: int,
                        record: dict[str, Any]) -> None:
    """A photo's file was masked in place: its new size and the masking (mode, counts, when)."""
    p = schema.defect_photos
    with store.engine.begin() as conn:
        conn.execute(update(p).where(p.c.id == photo_id).values(bytes=size, width=width, height=height,
                                                                anonymised=json.dumps(record)))
