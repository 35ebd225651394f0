"""A defect's evidence: the stored frame of the sighting that shows it best, and the box on it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from roadscan.api.store import schema
from roadscan.api.store.database import Store


@dataclass(frozen=True)
class EvidenceFrame:
    image_path: str | None  # relative to the store's image folder; None: no image stored
    box: tuple[float, float, float, float] | None  # x1, y1, x2, y2 in the frame's pixels
    survey_summary: str | None  # the survey's summary (JSON), which records the frame's anonymisation


def evidence_frame(store: Store, defect_id: int) -> EvidenceFrame | None:
    """The defect's evidence frame; None when there is no such defect."""
    d, o, f, s = schema.defects, schema.observations, schema.frames, schema.surveys
    with store.engine.connect() as conn:
        if conn.execute(select(d.c.id).where(d.c.id == defect_id)).first() is None:
            return None
        row = conn.execute(select(f.c.image_path, o.c.x1, o.c.y1, o.c.x2, o.c.y2, s.c.summary)
                           .select_from(d.join(o, o.c.id == d.c.evidence_observation_id).join(f, f.c.id == o.c.frame_id)
                                        .join(s, s.c.id == f.c.survey_id))
                           .where(d.c.id == defect_id)).first()
    if row is None:
        return EvidenceFrame(None, None, None)
    return EvidenceFrame(row.image_path, (row.x1, row.y1, row.x2, row.y2), row.summary)
