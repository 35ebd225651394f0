"""The store's tables, written once for SQLite and PostgreSQL alike (SQLAlchemy Core).

Positions are plain latitude/longitude columns (EPSG:4326) so that the embedded SQLite store needs no
spatial extension; track lines are WKT text. Times are stored as UTC ISO 8601 text with offset.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 7  # 1: surveys, frames, observations; 2: road network, defects, status history, condition;
# 3: API keys, defect photos; 4: photos record their anonymisation; 5: indexes that bound a survey's write;
# 6: the source network's road reference on segments and defects, a defect's external reference;
# 7: a defect's evidence (confirmed / unconfirmed) and the other classes seen at its spot

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
    # Since schema 2: where the observation lies on the road network, and the defect it belongs to.
    Column("segment_id", String(40)),
    Column("chainage_m", Float),
    Column("side", String(8)),
    Column("offset_m", Float),
    Column("on_network", Integer),  # 1/0; NULL when processed without a road network
    Column("defect_id", Integer, ForeignKey("defects.id", ondelete="SET NULL")),
)

# The road segments defects were snapped to (one network per store; segments replaced by id).
segments = Table(
    "segments", metadata,
    Column("segment_id", String(40), primary_key=True),
    Column("name", Text),
    Column("road_class", String(16), nullable=False),
    Column("speed_kmh", Float),
    Column("length_m", Float, nullable=False),
    Column("network", Text, nullable=False),  # the file it came from
    Column("geometry_wkt", Text, nullable=False),  # LINESTRING, EPSG:4326
    # Since schema 6: the source's own road reference (geo.roads.RoadNetwork): feature id, the mapping that
    # read it, municipality and road code, and where the segment starts along the source feature's line.
    *(Column(name, type_) for name, type_ in (("source_id", String(100)), ("source_kind", String(32)),
                                              ("municipality_code", String(16)), ("road_code", String(100)),
                                              ("road_start_m", Float))),
)

# One row per physical defect, across surveys.
defects = Table(
    "defects", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("family", String(16), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("segment_id", String(40)),
    Column("road_name", Text),
    Column("road_class", String(16)),
    Column("chainage_m", Float),
    Column("side", String(8)),
    Column("offset_m", Float),
    Column("on_network", Integer, nullable=False),
    Column("width_m", Float),
    Column("length_m", Float),
    Column("area_m2", Float),
    Column("n_obs", Integer, nullable=False),
    Column("n_surveys", Integer, nullable=False),
    Column("max_confidence", Float, nullable=False),
    Column("mean_confidence", Float, nullable=False),
    Column("severity", Integer, nullable=False),
    Column("severity_reason", Text, nullable=False),
    Column("certainty", Float),
    Column("priority", Float, nullable=False),
    Column("priority_breakdown", Text, nullable=False),  # JSON: term -> points; the terms add up to priority
    Column("priority_reason", Text),
    Column("status", String(20), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("first_survey_id", Integer, ForeignKey("surveys.id", ondelete="SET NULL")),
    Column("last_survey_id", Integer, ForeignKey("surveys.id", ondelete="SET NULL")),
    Column("evidence_observation_id", Integer),  # the sighting whose frame shows it best
    Column("updated_at", UTCDateTime, nullable=False),
    # Since schema 6: the road reference of its segment with the chainage along the source road line
    # (geo.snap.road_reference), and a reference a person gave it (a citizen's service request id).
    *(Column(name, type_) for name, type_ in (("source_id", String(100)), ("source_kind", String(32)),
                                              ("municipality_code", String(16)), ("road_code", String(100)),
                                              ("road_chainage_m", Float), ("external_ref", String(200)))),
    # Since schema 7: how strong the evidence is (core.evidence: "unconfirmed" for a single weak sighting; set
    # by the survey, recomputed by every survey that updates it) and the other classes its sightings were
    # given at this spot (comma-separated codes; geo/merge.py step 5).
    Column("evidence", String(16), nullable=False, server_default="confirmed"),
    Column("other_classes", String(100)),
)

# Every status a defect has had: who or which survey set it, when, and why.
defect_history = Table(
    "defect_history", metadata,
    Column("id", Integer, primary_key=True),
    Column("defect_id", Integer, ForeignKey("defects.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("note", Text),
    Column("by", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("survey_id", Integer, ForeignKey("surveys.id", ondelete="SET NULL")),
    Column("external_ref", String(200)),  # since schema 6: the external reference as this entry set it
)

# What each survey's camera covered, as chainage intervals on segments (for condition and
# "not re-observed").
coverage = Table(
    "coverage", metadata,
    Column("id", Integer, primary_key=True),
    Column("survey_id", Integer, ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False),
    Column("segment_id", String(40), nullable=False),
    Column("start_m", Float, nullable=False),
    Column("end_m", Float, nullable=False),
)

# Condition class 1-5 per segment (bin_start_m NULL) and per fixed-length bin, recomputed after
# every survey from all open defects and all coverage.
segment_condition = Table(
    "segment_condition", metadata,
    Column("id", Integer, primary_key=True),
    Column("segment_id", String(40), nullable=False),
    Column("level", String(8), nullable=False),  # "segment" or "bin"
    Column("bin_start_m", Float),
    Column("bin_end_m", Float),
    Column("road_name", Text),
    Column("road_class", String(16)),
    Column("covered_m", Float, nullable=False),
    Column("n_defects", Integer, nullable=False),
    Column("index_per_100m", Float),
    Column("condition", Integer),  # NULL: not rated (too little of it driven)
    Column("condition_label", String(32), nullable=False),
    Column("geometry_wkt", Text, nullable=False),  # EPSG:4326
    Column("updated_at", UTCDateTime, nullable=False),
)


# Since schema 3: who may use the API. Only a hash of each key is stored; the key is shown once.
api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the key
    Column("prefix", String(16), nullable=False),  # first characters of the key, to recognise it in lists
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),  # NULL while the key is valid
    Column("last_used_at", UTCDateTime),
)

# Since schema 3: photos a crew uploaded for a defect (e.g. after the repair), under <images>/photos/.
defect_photos = Table(
    "defect_photos", metadata,
    Column("id", Integer, primary_key=True),
    Column("defect_id", Integer, ForeignKey("defects.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),  # relative to the store's image folder
    Column("content_type", String(32), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("note", Text),
    Column("by", String(100), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # Since schema 4: JSON (mode, faces, plates, at) of the masking the stored file had; NULL: stored
    # before photos were anonymised, so not served until `roadscan anonymise` has masked it.
    Column("anonymised", Text),
)

Index("ix_frames_survey", frames.c.survey_id)
Index("ix_observations_survey", observations.c.survey_id)
Index("ix_observations_frame", observations.c.frame_id)
Index("ix_observations_latlon", observations.c.lat, observations.c.lon)
Index("ix_observations_defect", observations.c.defect_id)
Index("ix_defects_latlon", defects.c.lat, defects.c.lon)
Index("ix_defects_priority", defects.c.priority)
Index("ix_defects_segment", defects.c.segment_id)
Index("ix_history_defect", defect_history.c.defect_id)
Index("ix_coverage_survey", coverage.c.survey_id)
Index("ix_condition_segment", segment_condition.c.segment_id)
Index("ix_photos_defect", defect_photos.c.defect_id)
# Since schema 5: a survey's write reads and deletes only by these (issue 13): the coverage of the segments it
# touched (condition), and on --replace the rows that name the survey it replaces (foreign keys SET NULL).
INGEST_INDEXES = (
    Index("ix_coverage_segment", coverage.c.segment_id),
    Index("ix_defects_first_survey", defects.c.first_survey_id),
    Index("ix_defects_last_survey", defects.c.last_survey_id),
    Index("ix_history_survey", defect_history.c.survey_id),
)
