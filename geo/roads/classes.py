"""Source attributes to roadscan's one road hierarchy, driven by TOML mappings.

Every source names its roads differently (OSM `highway=tertiary`, GeoDanmark `vejkategori=Mellem vej`),
but priorities, condition reports and work lists speak of a single hierarchy. A mapping is a table per
source schema (see road_classes.toml); pydantic validates user files so that a typo in a class is
reported with the file, the table and the offending values before any data is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from roadscan.core.errors import ConfigError
from roadscan.geo.config_files import read_toml

ROAD_CLASSES = ("arterial", "collector", "local", "access", "path")
UNKNOWN = "unknown"
DROP = "drop"  # a mapping target meaning "not part of the road network"
TARGETS = (*ROAD_CLASSES, UNKNOWN, DROP)
BUILTIN_MAPPING = Path(__file__).resolve().parent.parent / "road_classes.toml"


class SourceMapping(BaseModel):
    """One source schema: how to find its id, name, speed limit, road reference and road class.

    `municipality` and `road_code` are the source's own road reference beside the feature id
    (GeoDanmark kommunekode and vejkode, NVDB kommune and vegsystemreferanse, OSM `ref`): they go
    onto every segment and defect so that a municipality's GIS can join them back.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    detect: tuple[str, ...] = ()
    id: tuple[str, ...] = ()
    # `name` is the table's own name, so the road-name columns are spelt `name` in TOML but stored here.
    road_name: tuple[str, ...] = ()
    speed: tuple[str, ...] = ()
    municipality: tuple[str, ...] = ()
    road_code: tuple[str, ...] = ()
    start: tuple[str, ...] = ()  # metres along the source road where the feature starts (NVDB links of a sequence)
    require: tuple[str, ...] = ()
    classes: dict[str, dict[str, str]] = {}

    @field_validator("detect", "id", "road_name", "speed", "municipality", "road_code", "start", "require",
                     mode="before")
    @classmethod
    def _one_column_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("classes")
    @classmethod
    def _known_targets(cls, classes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        bad = sorted({f"{column}.{value} = \"{target}\"" for column, table in classes.items()
                      for value, target in table.items() if target not in TARGETS})
        if bad:
            raise ValueError(f"unknown road class in {', '.join(bad)}")
        # Values match case-insensitively: "Stor Vej" in one delivery, "Stor vej" in the next.
        return {column: {str(v).strip().casefold(): t for v, t in table.items()}
                for column, table in classes.items()}

    def matches(self, columns) -> bool:
        """Whether a source with these columns is of this schema (a table without `detect` fits all)."""
        return set(self.detect) <= set(columns)

    def columns(self) -> set[str]:
        """Every source column this mapping may read."""
        return {*self.id, *self.road_name, *self.speed, *self.municipality, *self.road_code, *self.start,
                *self.require, *self.classes}


def read_mappings(path: str | Path) -> list[SourceMapping]:
    """The mapping tables of one TOML file, in the order written; ConfigError names the file."""
    path = Path(path)
    data = read_toml(path, "road class mapping")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not tables:
        raise ConfigError("holds no mapping table", path=path,
                          hint=f"write one [name] table with [name.classes.COLUMN] value = class; "
                               f"see {BUILTIN_MAPPING}")
    mappings = []
    for name, entry in tables.items():
        entry = dict(entry)
        if "name" in entry:
            entry["road_name"] = entry.pop("name")
        try:
            mappings.append(SourceMapping.model_validate({**entry, "name": name}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg'].removeprefix('Value error, ')}"
                                 for e in exc.errors())
            raise ConfigError(f"road class mapping [{name}] is invalid: {problems}", path=path,
                              hint=f"road classes are {', '.join(ROAD_CLASSES)} (or {UNKNOWN}, {DROP})") from None
    return mappings


def choose_mapping(columns, user: str | Path | None = None) -> SourceMapping | None:
    """The first mapping (user's file first, then the built-in ones) whose `detect` columns are present."""
    candidates = [*(read_mappings(user) if user is not None else []), *read_mappings(BUILTIN_MAPPING)]
    return next((m for m in candidates if m.matches(columns)), None)


def _value_text(values: pd.Series) -> pd.Series:
    """Attribute values as casefolded text; whole floats lose their ".0" so that 2.0 matches "2"."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        whole = numbers.dropna()
        if (whole == np.round(whole)).all():
            values = numbers.astype("Int64")
    text = values.astype("string").str.strip().str.casefold()
    return text.where(text != "", pd.NA)


def classify(frame: pd.DataFrame, mapping: SourceMapping | None) -> pd.Series:
    """Road class per row: the first class column whose value the mapping knows wins."""
    road_class = pd.Series(pd.NA, index=frame.index, dtype="string")
    for column, table in (mapping.classes.items() if mapping is not None else ()):
        if column in frame:
            road_class = road_class.fillna(_value_text(frame[column]).map(table).astype("string"))
    return road_class.fillna(UNKNOWN)


def first_column(frame: pd.DataFrame, candidates) -> str | None:
    """The first of `candidates` present in the frame."""
    return next((c for c in candidates if c in frame), None)


def parse_speed_kmh(values: pd.Series) -> pd.Series:
    """Speed limits in km/h from OSM-style text: "50", "30 mph", "50;30" (first wins); else NaN.

    Zone codes such as "DK:urban" or "FI:rural" stay NaN: their meaning is national law, not data.
    """
    text = values.astype("string")
    parts = text.str.extract(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", expand=True)
    speed = pd.to_numeric(parts[0], errors="coerce").astype("float64")
    speed = speed.where(parts[1].fillna("") != "mph", speed * 1.609344)
    return speed.where(speed > 0).round(1)
