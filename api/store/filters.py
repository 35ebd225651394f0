"""Which defects someone asked for: one filter, checked once, that the store runs as SQL.

The items, map summary and export routes, the work lists and the `roadscan defects` / `export`
commands all build a `DefectFilter` from what they were given, so a class (code or name), a status,
a severity or a box is accepted or refused in the same words everywhere; `defect_clauses` is its
SQL, which `select_defects` and the defects feature layer run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import shapely
from sqlalchemy import Connection, and_, select
from sqlalchemy.sql.elements import ColumnElement

from roadscan.api.store import schema
from roadscan.api.store.database import Store
from roadscan.api.store.matching import contains_casei
from roadscan.core.classes import CLASS_CODES, CLASSES, code_for
from roadscan.core.errors import ConfigError
from roadscan.core.evidence import EVIDENCE_LEVELS
from roadscan.core.statuses import DEFECT_STATUSES, canonical_status

Box = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


def split_values(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Values given as comma-separated text, or as several texts (a repeated option), trimmed.

    Text that names nothing (",", "") is kept as given, so that the filter refuses it by name rather
    than reading it as no filter at all.
    """
    if values is None:
        return ()
    texts = [values] if isinstance(values, str) else list(values)
    return tuple(v.strip() for text in texts for v in text.split(",") if v.strip()) or tuple(texts)


def parse_bbox(text: str) -> Box:
    """A box given as "min lon,min lat,max lon,max lat"."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ConfigError(f"bbox '{text}' must be four numbers: min lon,min lat,max lon,max lat")
    return values  # type: ignore[return-value]


def _severity(value: int | str | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"min_severity '{value}' must be a whole number from 1 to 5") from None


@dataclass
class DefectFilter:
    """Which defects: by class (codes or names, stored as codes), status, minimum severity, road
    name, box and area. Empty fields select everything."""

    codes: tuple[str, ...] = ()
    min_severity: int | None = None
    road: str | None = None  # case-insensitive substring of the road name
    bbox: Box | None = None
    area: shapely.Geometry | None = None  # polygon in EPSG:4326
    statuses: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # confirmed / unconfirmed (core.evidence); work lists ask for confirmed

    def __post_init__(self) -> None:
        unknown = sorted({v for v in self.codes if code_for(v) not in CLASS_CODES})
        if unknown:
            raise ConfigError(f"unknown defect class {unknown}",
                              hint=f"use a code ({', '.join(CLASS_CODES)}) or a name ({', '.join(CLASSES.values())})")
        self.codes = tuple(code_for(v) for v in self.codes)
        self.statuses = tuple(canonical_status(s) for s in self.statuses)  # "unverified" is "open"
        bad = sorted(set(self.statuses) - set(DEFECT_STATUSES))
        if bad:
            raise ConfigError(f"unknown status {bad}", hint=f"use {', '.join(DEFECT_STATUSES)}")
        if set(self.evidence) - set(EVIDENCE_LEVELS):
            raise ConfigError(f"unknown evidence {sorted(set(self.evidence) - set(EVIDENCE_LEVELS))}",
                              hint=f"use {', '.join(EVIDENCE_LEVELS)}")
        if self.min_severity is not None and not 1 <= self.min_severity <= 5:
            raise ConfigError(f"min_severity '{self.min_severity}' must be a whole number from 1 to 5")
        if self.bbox is not None:
            minx, miny, maxx, maxy = self.bbox
            if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
                raise ConfigError(f"bbox {self.bbox} is not min lon, min lat, max lon, max lat in degrees")

    @classmethod
    def parse(cls, *, classes: str | Iterable[str] | None = None, statuses: str | Iterable[str] | None = None,
              min_severity: int | str | None = None, road: str | None = None, bbox: str | None = None,
              area: shapely.Geometry | None = None) -> DefectFilter:
        """The filter as a request or a command gives it: lists comma-separated or repeated, numbers as text."""
        return cls(codes=split_values(classes), statuses=split_values(statuses), min_severity=_severity(min_severity),
                   road=road or None, bbox=parse_bbox(bbox) if bbox else None, area=area)


def defect_clauses(flt: DefectFilter, dialect: str) -> list[ColumnElement]:
    """The filter as SQL conditions on the defects table. The area (a polygon) is tested in memory; here
    its envelope narrows the rows to read, through the lat/lon index."""
    d = schema.defects
    out: list[ColumnElement] = []
    if flt.codes:
        out.append(d.c.code.in_(flt.codes))
    if flt.statuses:
        out.append(d.c.status.in_(flt.statuses))
    if flt.evidence:
        out.append(d.c.evidence.in_(flt.evidence))
    if flt.min_severity is not None:
        out.append(d.c.severity >= flt.min_severity)
    if flt.road:
        out.append(contains_casei(d.c.road_name, flt.road, dialect))
    for box in (flt.bbox, None if flt.area is None or flt.area.is_empty else flt.area.bounds):
        if box is not None:
            minx, miny, maxx, maxy = box
            out.append(and_(d.c.lon >= minx, d.c.lon <= maxx, d.c.lat >= miny, d.c.lat <= maxy))
    return out


def select_top(store: Store, flt: DefectFilter, *, limit: int, min_priority: float | None = None,
               batch: int = 500) -> pd.DataFrame:
    """The `limit` highest-priority defects the filter selects, area included (a crew's work list).

    Only the defects of the filter's box or area are read, in priority order, and reading stops at
    `limit`: the priority index and the lat/lon index do the work, so a work list costs the same on a
    million defects as on a hundred (it read every defect before, 3-4 s on 100,000; issue 15).
    """
    d = schema.defects
    clauses = defect_clauses(flt, store.engine.dialect.name)
    if min_priority is not None:
        clauses.append(d.c.priority >= min_priority)
    query = select(d).where(*clauses).order_by(d.c.priority.desc(), d.c.id)
    columns = list(d.c.keys())
    if flt.area is None:
        with store.engine.connect() as conn:
            return pd.DataFrame([tuple(r) for r in conn.execute(query.limit(limit))], columns=columns)
    kept: list[pd.DataFrame] = []
    with store.engine.connect() as conn:
        result = conn.execution_options(yield_per=batch).execute(query)
        for rows in result.partitions():
            part = pd.DataFrame([tuple(r) for r in rows], columns=columns)
            kept.append(part[shapely.contains_xy(flt.area, part["lon"].to_numpy(float), part["lat"].to_numpy(float))])
            if sum(len(k) for k in kept) >= limit:
                break
        result.close()
    return pd.concat(kept, ignore_index=True).head(limit) if kept else pd.DataFrame(columns=columns)


def select_defects(store: Store, flt: DefectFilter = DefectFilter()) -> pd.DataFrame:
    """The defects the filter selects, every stored column, highest priority first (area not applied)."""
    with store.engine.connect() as conn:
        return defects_matching(conn, flt)


def defects_matching(conn: Connection, flt: DefectFilter) -> pd.DataFrame:
    """`select_defects` on an open connection (inside a survey's transaction, say)."""
    d = schema.defects
    query = select(d).where(*defect_clauses(flt, conn.dialect.name)).order_by(d.c.priority.desc(), d.c.id)
    return pd.DataFrame(conn.execute(query).mappings().all(), columns=list(d.c.keys()))
