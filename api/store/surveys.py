"""Writing and reading surveys: one survey is written in one transaction, with its defects and images.

`survey_transaction` inserts the survey's rows and hands the caller a `SurveyTransaction` whose verbs
read the defects near it and apply the changes computed from them (geo/), all before one commit.
Frame images wait in a scratch folder (api/store/staging.py) and move into the store's image folder
only as the transaction commits, so a crash or bad input leaves neither rows nor files.
"""

from __future__ import annotations

import json
import math
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, func, select

from roadscan.api.store import defects, postgis, schema
from roadscan.api.store.database import Store
from roadscan.api.store.filters import DefectFilter, defects_matching
from roadscan.core.changes import DefectChanges
from roadscan.core.errors import StoreError
from roadscan.core.tables import FRAME_COLUMNS, OBSERVATION_COLUMNS


def find_survey(store: Store, fingerprint: str) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.surveys).where(schema.surveys.c.fingerprint == fingerprint)).mappings().first()
    return dict(row) if row else None


def list_surveys(store: Store) -> pd.DataFrame:
    """All surveys, newest first, with their counts."""
    s = schema.surveys
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(s.c.id, s.c.name, s.c.started_at, s.c.ended_at, s.c.distance_m, s.c.frames_read,
                   s.c.frames_sampled, s.c.detections, s.c.footage_path, s.c.gps_path, s.c.model)
            .order_by(s.c.started_at.desc())
        ).mappings().all()
    return pd.DataFrame(rows, columns=["id", "name", "started_at", "ended_at", "distance_m", "frames_read",
                                       "frames_sampled", "detections", "footage_path", "gps_path", "model"])


def count_rows(store: Store) -> dict[str, int]:
    """Rows per table: what tests and summaries compare before and after a job."""
    with store.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (schema.surveys, schema.frames, schema.observations)}


def survey_image_dir(store: Store, fingerprint: str) -> Path:
    return store.images_dir / f"survey-{fingerprint[:16]}"


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts with NaN/NaT turned into NULL and pandas timestamps into datetimes."""
    out = []
    for rec in frame[columns].to_dict("records"):
        for key, value in rec.items():
            if isinstance(value, pd.Timestamp):
                rec[key] = value.to_pydatetime()
            elif value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
                rec[key] = None
        out.append(rec)
    return out


class SurveyTransaction:
    """A survey being written: its rows are in, the transaction is open.

    The verbs read what the store holds near the survey and write what the caller computed from it,
    all before the commit, so the defects are merged against exactly what is stored.
    """

    def __init__(self, conn: Connection, survey_id: int, observation_ids: list[int]):
        self._conn = conn
        self.survey_id = survey_id
        self.observation_ids = observation_ids  # in the order of the observation rows given

    def defects_near(self, bbox: tuple[float, float, float, float]) -> pd.DataFrame:
        """Stored defects within a lon/lat box: the candidates a new survey's sightings may match."""
        return defects_matching(self._conn, DefectFilter(bbox=bbox))

    def apply(self, changes: DefectChanges) -> None:
        defects.apply_defect_changes(self._conn, self.survey_id, self.observation_ids, changes)

    def coverage_on(self, segment_ids) -> pd.DataFrame:
        return defects.coverage_on(self._conn, segment_ids)

    def active_defects_on(self, segment_ids) -> pd.DataFrame:
        return defects.active_defects_on(self._conn, segment_ids)

    def replace_condition(self, rows: pd.DataFrame) -> None:
        defects.replace_condition(self._conn, rows)


def _insert_survey(conn: Connection, survey: dict[str, Any], frames: pd.DataFrame, observations: pd.DataFrame,
                   replace: bool) -> SurveyTransaction:
    fingerprint = survey["fingerprint"]
    postgis.lock_survey_writes(conn)  # PostgreSQL: surveys merge one at a time, as on SQLite
    old = conn.execute(select(schema.surveys.c.id).where(schema.surveys.c.fingerprint == fingerprint)).scalar()
    if old is not None:
        if not replace:
            raise StoreError(f"this footage and track are already stored as survey {old}",
                             path=survey["footage_path"], hint="use --replace to process it again")
        conn.execute(delete(schema.observations).where(schema.observations.c.survey_id == old))
        conn.execute(delete(schema.frames).where(schema.frames.c.survey_id == old))
        conn.execute(delete(schema.surveys).where(schema.surveys.c.id == old))
    survey_id = conn.execute(schema.surveys.insert().values(**survey)).inserted_primary_key[0]
    frame_rows = _records(frames, FRAME_COLUMNS)
    if frame_rows:
        conn.execute(schema.frames.insert(), [{**r, "survey_id": survey_id} for r in frame_rows])
    ids = dict(conn.execute(select(schema.frames.c.frame_index, schema.frames.c.id)
                            .where(schema.frames.c.survey_id == survey_id)).all())
    obs_rows = _records(observations, OBSERVATION_COLUMNS)
    for r in obs_rows:
        r["frame_id"] = ids[r.pop("frame_index")]
        r["survey_id"] = survey_id
    if obs_rows:
        conn.execute(schema.observations.insert(), obs_rows)
    obs_ids = conn.execute(select(schema.observations.c.id).where(schema.observations.c.survey_id == survey_id)
                           .order_by(schema.observations.c.id)).scalars().all()
    return SurveyTransaction(conn, survey_id, list(obs_ids))


@contextmanager
def survey_transaction(store: Store, survey: dict[str, Any], frames: pd.DataFrame, observations: pd.DataFrame,
                       staged_images: Path | None = None, *, replace: bool = False) -> Iterator[SurveyTransaction]:
    """Write one survey with its frames and observations; the body adds its defects; all commit together.

    `frames.image_path` is relative to `staged_images`; it is rewritten relative to the store's image
    folder, and the folder is moved into place as the transaction commits. With `replace`, an earlier
    survey of the same fingerprint is removed in the same transaction (defects it found stay, without
    its sightings). An exception in the body rolls everything back, files included.
    """
    fingerprint = survey["fingerprint"]
    final_dir = survey_image_dir(store, fingerprint)
    trash_dir = final_dir.with_name(final_dir.name + f".old-{uuid.uuid4().hex[:8]}")
    moved_old = moved_new = False
    frames = frames.copy()
    frames["image_path"] = frames["image_path"].map(
        lambda p: None if p is None or (isinstance(p, float) and math.isnan(p)) else f"{final_dir.name}/{p}")
    survey = {**survey, "summary": json.dumps(survey.get("summary", {}), default=str),
              "camera": json.dumps(survey["camera"], default=str) if not isinstance(survey["camera"], str) else survey["camera"]}
    try:
        with store.engine.begin() as conn:
            yield _insert_survey(conn, survey, frames, observations, replace)
            # Files last, just before the commit: a failure above leaves the image folder untouched.
            if final_dir.exists():
                final_dir.rename(trash_dir)
                moved_old = True
            if staged_images is not None:
                staged_images.rename(final_dir)
                moved_new = True
    except BaseException:
        if moved_new:
            final_dir.rename(staged_images)
        if moved_old:
            trash_dir.rename(final_dir)
        raise
    finally:
        if staged_images is not None and staged_images.exists():
            shutil.rmtree(staged_images, ignore_errors=True)
    if moved_old:
        shutil.rmtree(trash_dir, ignore_errors=True)


def write_survey(store: Store, survey: dict[str, Any], frames: pd.DataFrame, observations: pd.DataFrame,
                 staged_images: Path | None = None, *, replace: bool = False) -> int:
    """Insert one survey with its frames and observations atomically (no defects); returns its id."""
    with survey_transaction(store, survey, frames, observations, staged_images, replace=replace) as tx:
        pass
    return tx.survey_id


def read_observations(store: Store, survey_id: int) -> pd.DataFrame:
    """A survey's observations with their frame's index, time and pose."""
    o, f = schema.observations, schema.frames
    query = (select(o, f.c.frame_index, f.c.time.label("frame_time"), f.c.lat.label("frame_lat"),
                    f.c.lon.label("frame_lon"), f.c.heading_deg, f.c.image_path)
             .join(f, o.c.frame_id == f.c.id).where(o.c.survey_id == survey_id).order_by(o.c.id))
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return pd.DataFrame(rows, columns=[*o.c.keys(), "frame_index", "frame_time", "frame_lat", "frame_lon",
                                       "heading_deg", "image_path"])
