"""Camera geometry: where on the road surface does an image pixel look?

A camera profile is a pinhole model (optionally with two radial distortion terms) mounted on the
vehicle at a height, pitched down towards the road. Ground coordinates are in the vehicle frame:
`forward` metres ahead of the vehicle's GPS position and `right` metres to its right, on a flat road.
The flat-road assumption is what every monocular road survey makes; it holds to a few per cent for
defects 5-25 m ahead on ordinary gradients.

Axis conventions (OpenCV's): image u to the right, v down; camera X right, Y down, Z along the lens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from roadscan.core.errors import ConfigError

# Physically sensible values: a NaN or an absurd number would place every defect nowhere (or
# everywhere), so a profile outside these is refused with its name and the field.
LIMITS: dict[str, tuple[float, float, str]] = {
    "width": (1, 100_000, "pixels"),
    "height": (1, 100_000, "pixels"),
    "fx": (1e-3, 1e6, "pixels"),
    "fy": (1e-3, 1e6, "pixels"),
    "cx": (-1e6, 1e6, "pixels"),
    "cy": (-1e6, 1e6, "pixels"),
    "mount_height_m": (0.05, 10, "m above the road"),
    "pitch_deg": (-30, 89, "degrees (positive looks down)"),
    "roll_deg": (-45, 45, "degrees"),
    "lateral_offset_m": (-5, 5, "m from the GPS antenna"),
    "forward_offset_m": (-20, 20, "m from the GPS antenna"),
    "k1": (-2, 2, "(radial distortion)"),
    "k2": (-2, 2, "(radial distortion)"),
}


def limit_problems(values: dict) -> list[str]:
    """'field: why' for each value in `values` that is not a finite number within LIMITS."""
    problems = []
    for name, value in values.items():
        if name not in LIMITS or value is None:
            continue
        low, high, unit = LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{name}: must be a finite number, got {value!r}")
        elif not low <= value <= high:
            problems.append(f"{name}: must be from {low:g} to {high:g} {unit}, got {value:g}")
    return problems


@dataclass(frozen=True)
class CameraProfile:
    """Intrinsics for one image size, plus how the camera sits on the vehicle."""

    name: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    mount_height_m: float
    pitch_deg: float = 0.0  # positive looks down towards the road
    roll_deg: float = 0.0  # positive turns the image clockwise
    lateral_offset_m: float = 0.0  # camera's offset to the right of the GPS antenna
    forward_offset_m: float = 0.0  # camera's offset ahead of the GPS antenna
    k1: float = 0.0
    k2: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        problems = limit_problems({f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ConfigError(f"camera profile [{self.name}] is invalid: {'; '.join(problems)}")

    @classmethod
    def from_hfov(cls, name: str, width: int, height: int, hfov_deg: float, **mount) -> CameraProfile:
        """Square pixels and a centred principal point: what a datasheet's field of view gives."""
        fx = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(name=name, width=width, height=height, fx=fx, fy=fx, cx=width / 2, cy=height / 2, **mount)

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan((self.width / 2) / self.fx))

    @property
    def horizon_row(self) -> float:
        """Image row of the horizon of a flat road (at the principal column, ignoring roll)."""
        return self.cy - self.fy * math.tan(math.radians(self.pitch_deg))

    def for_image(self, width: int, height: int) -> CameraProfile:
        """The same camera at another resolution (footage is often recorded scaled or cropped)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return replace(self, width=width, height=height, fx=self.fx * sx, fy=self.fy * sy,
                       cx=self.cx * sx, cy=self.cy * sy)

    def calibrated(self, horizon_row: float) -> CameraProfile:
        """The pitch that puts the flat road's horizon on `horizon_row` (read off one frame)."""
        pitch = math.degrees(math.atan((self.cy - horizon_row) / self.fy)) if math.isfinite(horizon_row) else math.nan
        low, high, _ = LIMITS["pitch_deg"]
        if not low <= pitch <= high:
            raise ConfigError(f"camera profile [{self.name}] is invalid: horizon_row: {horizon_row!r} is no horizon "
                              f"of this camera (it gives a pitch of {pitch:.0f} degrees, outside {low:g} to {high:g})")
        return replace(self, pitch_deg=pitch)

    # --- projections -------------------------------------------------------------------------

    def _rotation(self) -> np.ndarray:
        """Columns: the camera's X, Y, Z axes in vehicle coordinates (forward, right, up)."""
        p = math.radians(self.pitch_deg)
        x_axis = np.array([0.0, 1.0, 0.0])
        y_axis = np.array([-math.sin(p), 0.0, -math.cos(p)])
        z_axis = np.array([math.cos(p), 0.0, -math.sin(p)])
        return np.stack([x_axis, y_axis, z_axis], axis=1)

    def _undistort(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.k1 == 0 and self.k2 == 0:
            return a, b
        # Fixed-point inversion of the radial model; converges in a few steps for dashcam lenses.
        x, y = a.copy(), b.copy()
        for _ in range(8):
            r2 = x * x + y * y
            scale = 1 + self.k1 * r2 + self.k2 * r2 * r2
            x, y = a / scale, b / scale
        return x, y

    def _distort(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.k1 == 0 and self.k2 == 0:
            return x, y
        r2 = x * x + y * y
        scale = 1 + self.k1 * r2 + self.k2 * r2 * r2
        return x * scale, y * scale

    def _roll(self, a: np.ndarray, b: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
        if self.roll_deg == 0:
            return a, b
        r = sign * math.radians(self.roll_deg)
        return a * math.cos(r) + b * math.sin(r), -a * math.sin(r) + b * math.cos(r)

    def pixel_to_ground(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        """Pixels to (forward, right) metres on the road; NaN for pixels at or above the horizon."""
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        a, b = self._undistort((u - self.cx) / self.fx, (v - self.cy) / self.fy)
        a, b = self._roll(a, b, +1.0)
        ray = self._rotation() @ np.stack([a, b, np.ones_like(a)]).reshape(3, -1)
        down = -ray[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(down > 1e-9, self.mount_height_m / down, np.nan)
        forward = (t * ray[0]).reshape(u.shape) + self.forward_offset_m
        right = (t * ray[1]).reshape(u.shape) + self.lateral_offset_m
        return forward, right

    def ground_to_pixel(self, forward, right) -> tuple[np.ndarray, np.ndarray]:
        """Road points (forward, right metres) to pixels; NaN for points behind the camera."""
        forward = np.asarray(forward, dtype=np.float64)
        right = np.asarray(right, dtype=np.float64)
        rel = np.stack([forward - self.forward_offset_m, right - self.lateral_offset_m,
                        np.full_like(forward, -self.mount_height_m)]).reshape(3, -1)
        xc, yc, zc = self._rotation().T @ rel
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(zc > 1e-6, xc / zc, np.nan)
            b = np.where(zc > 1e-6, yc / zc, np.nan)
        a, b = self._roll(a, b, -1.0)
        a, b = self._distort(a, b)
        return (self.cx + self.fx * a).reshape(forward.shape), (self.cy + self.fy * b).reshape(forward.shape)
