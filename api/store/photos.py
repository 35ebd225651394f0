"""Crews' photos of a defect (e.g. after the repair): the files under <images>/photos/ and their rows.

Each row records the masking its file had (`anonymised`, JSON); NULL marks a photo stored before
uploads were masked, which is not served until `roadscan anonymise` has masked it
(anonymisation.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from roadscan.api.store import schema
from roadscan.api.store.busy import retry_when_locked
from roadscan.api.store.database import Store


@dataclass(frozen=True)
class PhotoFile:
    path: str  # relative to the store's image folder
    content_type: str
    anonymised: str | None  # JSON of the masking; None: not masked yet


def record_photo(store: Store, *, defect_id: int, path: str, content_type: str, size: int, width: int, height: int,
              note: str | None, by: str, at: datetime, anonymised: dict[str, Any]) -> dict[str, Any]:
    """Record a photo whose (masked) file is already at `path`; returns its row. Waits for the write
    lock while another writer holds it (busy.py)."""
    p = schema.defect_photos

    def write() -> dict[str, Any]:
        with store.engine.begin() as conn:
            photo_id = conn.execute(p.insert().values(
                defect_id=defect_id, path=path, content_type=content_type, bytes=size, width=width, height=height,
                note=note, by=by, at=at, anonymised=json.dumps(anonymised))).inserted_primary_key[0]
            return dict(conn.execute(select(p).where(p.c.id == photo_id)).mappings().one())

    return retry_when_locked(write)


def defect_photos(store: Store, defect_id: int) -> list[dict[str, Any]]:
    """The defect's photos, oldest first."""
    p = schema.defect_photos
    with store.engine.connect() as conn:
        rows = conn.execute(select(p).where(p.c.defect_id == defect_id).order_by(p.c.at, p.c.id)).mappings().all()
    return [dict(r) for r in rows]


def photo_file(store: Store, defect_id: int, photo_id: int) -> PhotoFile | None:
    """Where one of the defect's photos is stored; None when it has no such photo."""
    p = schema.defect_photos
    with store.engine.connect() as conn:
        row = conn.execute(select(p.c.path, p.c.content_type, p.c.anonymised)
                           .where(p.c.id == photo_id, p.c.defect_id == defect_id)).first()
    return None if row is None else PhotoFile(row.path, row.content_type, row.anonymised)
