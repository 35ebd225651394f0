"""Scoring settings: the defaults in `scoring.toml`, a user's overrides merged over them, checked.

One pydantic model describes the file, so a typo, an unknown road class or class code, or a negative
weight is refused with the file and the key named, before any defect is scored. The vocabularies
the file may use (class codes, road classes) live here too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, ValidationError, field_validator

from roadscan.core.classes import CLASSES
from roadscan.core.errors import ConfigError
from roadscan.geo.config_files import read_toml
from roadscan.geo.roads import ROAD_CLASSES as NETWORK_CLASSES
from roadscan.geo.roads import UNKNOWN

DEFAULT_SCORING = Path(__file__).with_name("scoring.toml")

# The road hierarchy of geo.roads; "unknown" also stands for defects off the network.
ROAD_CLASSES = (*NETWORK_CLASSES, UNKNOWN)

SEVERITIES = (1, 2, 3, 4, 5)


class _Strict(BaseModel):
    # inf passes "non-negative" and NaN would poison every score: weights are finite numbers
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _increasing(values: list[float], what: str) -> list[float]:
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"{what} must increase strictly, got {values}")
    return values


def _per_severity(table: dict[int, float], *, non_decreasing: bool) -> dict[int, float]:
    if set(table) != set(SEVERITIES):
        raise ValueError(f"give exactly the severities 1 to 5, got {sorted(table)}")
    values = [table[s] for s in SEVERITIES]
    if non_decreasing and any(b < a for a, b in zip(values, values[1:])):
        raise ValueError(f"must not decrease with severity, got {values}")
    return table


class SeverityRule(_Strict):
    """Severity = base + number of `bands` thresholds the size reaches, capped at 5."""

    base: int = Field(ge=1, le=5)
    measure: Literal["area", "length", "none"]
    bands: list[NonNegativeFloat] = []

    @field_validator("bands")
    @classmethod
    def _bands(cls, v):
        return _increasing(v, "bands")


class Certainty(_Strict):
    max_sightings: int = Field(ge=1)
    high: float = Field(gt=0, le=1)
    medium: float = Field(gt=0, le=1)


class EvidenceRule(_Strict):
    """A defect is confirmed by `min_sightings` sightings or one at least `confident`; else it is unconfirmed."""

    min_sightings: int = Field(ge=1)
    confident: float = Field(ge=0, le=1)
    max_unconfirmed_severity: int = Field(ge=1, le=5)


class Speed(_Strict):
    reference_kmh: NonNegativeFloat
    per_10_kmh: NonNegativeFloat
    max: NonNegativeFloat


class Places(_Strict):
    default_radius_m: PositiveFloat
    default_weight: NonNegativeFloat
    weights: dict[str, NonNegativeFloat] = {}
    radius_m: dict[str, PositiveFloat] = {}

    def weight(self, kind: str) -> float:
        return self.weights.get(kind, self.default_weight)

    def radius(self, kind: str) -> float:
        return self.radius_m.get(kind, self.default_radius_m)


class Priority(_Strict):
    certainty_weight: float = Field(ge=0, le=1)
    severity_points: dict[int, NonNegativeFloat]
    road_class: dict[str, NonNegativeFloat]
    speed: Speed
    places: Places

    @field_validator("severity_points")
    @classmethod
    def _points(cls, v):
        return _per_severity(v, non_decreasing=True)

    @field_validator("road_class")
    @classmethod
    def _road_classes(cls, v):
        unknown = sorted(set(v) - set(ROAD_CLASSES))
        if unknown:
            raise ValueError(f"unknown road class {', '.join(map(repr, unknown))} (known: {', '.join(ROAD_CLASSES)})")
        missing = sorted(set(ROAD_CLASSES) - set(v))
        if missing:
            raise ValueError(f"no weight for road class {', '.join(map(repr, missing))}")
        return v


class Condition(_Strict):
    bin_length_m: PositiveFloat
    min_length_m: NonNegativeFloat
    min_covered_fraction: float = Field(ge=0, le=1)
    ignore_codes: list[str] = []
    bands: list[NonNegativeFloat] = Field(min_length=4, max_length=4)
    labels: list[str] = Field(min_length=5, max_length=5)
    severity_weights: dict[int, NonNegativeFloat]

    @field_validator("bands")
    @classmethod
    def _bands(cls, v):
        return _increasing(v, "bands")

    @field_validator("severity_weights")
    @classmethod
    def _weights(cls, v):
        return _per_severity(v, non_decreasing=True)


class Scoring(_Strict):
    """Everything tunable about severity, certainty, priority and condition."""

    severity: dict[str, SeverityRule]
    evidence: EvidenceRule
    certainty: Certainty
    priority: Priority
    condition: Condition

    @field_validator("severity")
    @classmethod
    def _codes(cls, v):
        unknown = sorted(set(v) - set(CLASSES))
        if unknown:
            raise ValueError(f"unknown class code {', '.join(map(repr, unknown))} (known: {', '.join(CLASSES)})")
        return v


def _merged(base: dict, override: dict) -> dict:
    """`override` over `base`: tables merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _validate(data: dict, path: Path) -> Scoring:
    try:
        return Scoring.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors())
        raise ConfigError(f"scoring config is invalid: {problems}", path=path,
                          hint=f"compare with the defaults in {DEFAULT_SCORING}") from None


@lru_cache(maxsize=1)
def default_scoring() -> Scoring:
    """The shipped defaults."""
    return _validate(read_toml(DEFAULT_SCORING, "scoring config"), DEFAULT_SCORING)


def load_scoring(path: str | Path | None = None) -> Scoring:
    """The defaults, with the user's TOML file at `path` (only the keys to change) merged over them."""
    if path is None:
        return default_scoring()
    path = Path(path)
    defaults = read_toml(DEFAULT_SCORING, "scoring config")
    return _validate(_merged(defaults, read_toml(path, "scoring config")), path)


def resolve_scoring(scoring: Scoring | str | Path | None) -> Scoring:
    """Accept a loaded Scoring, a path to a user file, or None for the defaults."""
    return scoring if isinstance(scoring, Scoring) else load_scoring(scoring)
