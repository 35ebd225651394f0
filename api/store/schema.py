"""The store's tables, written once for SQLite and PostgreSQL alike (SQLAlchemy Core).

Positions are plain latitude/longitude columns (EPSG:4326) so that the embedded SQLite store needs no
spatial extension; track lines are WKT text. Times are stored as UTC ISO 8601 text with offset.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 1

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes that survive SQLite, which has no timestamp type."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; roadscan times are UTC-aware")
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect):
        return None if value is None else datetime.fromisoformat(value)


meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

surveys = Table(
    "surveys", metadata,
    Column("id", Integer, primary_key=True),
    # Fingerprint of footage + GPS + time offset: the same drive processed twice is one survey.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("footage_path", Text, nullable=False),
    Column("footage_kind", String(16), nullable=False),
    Column("gps_path", Text, nullable=False),
    Column("gps_format", String(16), nullable=False),
    Column("time_offset_s", Float, nullable=False, default=0.0),
    Column("camera", Text, nullable=False),  # profile as JSON, as used
    Column("model", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    Column("distance_m", Float, nullable=False),
    Column("track_wkt", Text, nullable=False),  # LINESTRING in EPSG:4326 of the stretch covered
    Column("frames_read", Integer, nullable=False),
    Column("frames_sampled", Integer, nullable=False),
    Column("detections", Integer, nullable=False),
    Column("summary", Text, nullable=False),  # JSON: skipped counts and reasons, timings, settings
)

frames = Table(
    "frames", metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", Integer, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False),
    Column("frame_index", Integer, nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("heading_deg", Float),
    Column("speed_mps", Float),
    Column("distance_m", Float, nullable=False),  # travelled since the start of the track
    Column("image_path", Text),  # relative to the store's image folder; NULL when not kept
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    UniqueConstraint("survey_id", "frame_index"),
)

observations = Table(
    "observations", metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", Integer, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False),
    Column("frame_id", Integer, ForeignKey("frames.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("x1", Float, nullable=False),
    Column("y1", Float, nullable=False),
    Column("x2", Float, nullable=False),
    Column("y2", Float, nullable=False),
    Column("lat", Float),  # NULL when the box lies above the horizon and cannot be placed
    Column("lon", Float),
    Column("forward_m", Float),
    Column("right_m", Float),
    Column("distance_m", Float),
    Column("width_m", Float),
    Column("length_m", Float),
)

Index("ix_frames_survey", frames.c.survey_id)
Index("ix_observations_survey", observations.c.survey_id)
Index("ix_observations_frame", observations.c.frame_id)
Index("ix_observations_latlon", observations.c.lat, observations.c.lon)
