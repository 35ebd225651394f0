"""Camera profiles from TOML: the built-in set in `cameras.toml` and the user's own files.

pydantic validates each entry so that a typo in a profile is reported with the file and the field;
the physical ranges (geo.camera.LIMITS) are checked once the profile is built, with the same naming.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from roadscan.core.errors import ConfigError
from roadscan.geo.camera import CameraProfile, limit_problems
from roadscan.geo.config_files import read_toml

BUILTIN_PROFILES = Path(__file__).with_name("cameras.toml")


class ProfileEntry(BaseModel):
    """One profile as written in a TOML file."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    description: str = ""
    width: int
    height: int
    hfov_deg: float | None = Field(default=None, gt=1, lt=179)
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    mount_height_m: float
    pitch_deg: float | None = None
    horizon_row: float | None = None
    roll_deg: float = 0.0
    lateral_offset_m: float = 0.0
    forward_offset_m: float = 0.0
    k1: float = 0.0
    k2: float = 0.0

    @model_validator(mode="after")
    def _one_way_each(self) -> ProfileEntry:
        problems = limit_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        if (self.hfov_deg is None) == (self.fx is None):
            raise ValueError("give exactly one of hfov_deg or fx/fy/cx/cy")
        if (self.pitch_deg is None) == (self.horizon_row is None):
            raise ValueError("give exactly one of pitch_deg or horizon_row")
        return self

    def to_profile(self, name: str) -> CameraProfile:
        mount = dict(mount_height_m=self.mount_height_m, pitch_deg=self.pitch_deg or 0.0,
                     roll_deg=self.roll_deg, lateral_offset_m=self.lateral_offset_m,
                     forward_offset_m=self.forward_offset_m, k1=self.k1, k2=self.k2,
                     description=self.description)
        if self.hfov_deg is not None:
            profile = CameraProfile.from_hfov(name, self.width, self.height, self.hfov_deg, **mount)
        else:
            profile = CameraProfile(name=name, width=self.width, height=self.height, fx=self.fx,
                                    fy=self.fy or self.fx,
                                    cx=self.cx if self.cx is not None else self.width / 2,
                                    cy=self.cy if self.cy is not None else self.height / 2, **mount)
        return profile.calibrated(self.horizon_row) if self.horizon_row is not None else profile


def read_profiles(path: str | Path) -> dict[str, CameraProfile]:
    """All profiles of one TOML file; a file holding a single profile's fields is named by its stem."""
    path = Path(path)
    data = read_toml(path, "camera profile")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not tables:
        tables = {path.stem: data}
    profiles = {}
    for name, entry in tables.items():
        try:
            profiles[name] = ProfileEntry.model_validate(entry).to_profile(name)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg'].removeprefix('Value error, ')}"
                                 if e["loc"] else e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ConfigError(f"camera profile [{name}] is invalid: {problems}", path=path) from None
        except ConfigError as exc:  # the built profile's physical checks (e.g. a horizon_row giving no pitch)
            raise ConfigError(exc.message, path=path, hint=exc.hint) from None
    return profiles


def load_profile(spec: str | Path, *, config: str | Path | None = None) -> CameraProfile:
    """A profile by name (built-in, or from `config`), or the single profile in a TOML file `spec`."""
    if str(spec).endswith(".toml"):
        profiles = read_profiles(spec)
        if len(profiles) != 1:
            raise ConfigError(f"holds {len(profiles)} profiles ({', '.join(profiles)}); pass the file with "
                              "--camera-config and pick one by name with --camera", path=spec)
        return next(iter(profiles.values()))
    profiles = read_profiles(BUILTIN_PROFILES)
    if config is not None:
        profiles.update(read_profiles(config))
    if str(spec) not in profiles:
        raise ConfigError(f"unknown camera profile '{spec}'",
                          hint=f"known profiles: {', '.join(sorted(profiles))}; or give a .toml file")
    return profiles[str(spec)]
