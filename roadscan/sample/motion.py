"""How the sample vehicle moves along its route: cruise, one smooth stop, cruise again.

The stop gives the footage stationary frames, which a distance-based frame sampler must skip.
Positions are written in closed form (cosine speed ramps), so any time can be evaluated exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from roadscan.sample.route import Route, heading_deg


@dataclass(frozen=True)
class Motion:
    """Chainage along the route as a function of time (seconds from the first video frame)."""

    speed_mps: float
    s_video_start: float  # chainage at t = 0
    s_stop: float  # chainage where the vehicle stands still
    stop_s: float  # seconds standing still
    ramp_s: float  # seconds to brake from cruise to standstill, and to speed up again
    lane_offset_m: float  # the vehicle drives this far right of the centreline

    @property
    def _t_brake(self) -> float:
        return (self.s_stop - self.speed_mps * self.ramp_s / 2 - self.s_video_start) / self.speed_mps

    def chainage(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        v, ramp = self.speed_mps, self.ramp_s
        t_b = self._t_brake
        t_s = t_b + ramp
        t_g = t_s + self.stop_s
        t_c = t_g + ramp
        down = np.clip(t - t_b, 0, ramp)
        up = np.clip(t - t_g, 0, ramp)
        return (self.s_video_start + v * np.minimum(t, t_b)
                + v / 2 * (down + ramp / math.pi * np.sin(math.pi * down / ramp))
                + v / 2 * (up - ramp / math.pi * np.sin(math.pi * up / ramp))
                + v * np.maximum(t - t_c, 0))

    def speed(self, t) -> np.ndarray:
        """The derivative of `chainage`."""
        t = np.asarray(t, dtype=np.float64)
        v, ramp = self.speed_mps, self.ramp_s
        t_b = self._t_brake
        t_g = t_b + ramp + self.stop_s
        braking = (t > t_b) & (t < t_b + ramp)
        starting = (t > t_g) & (t < t_g + ramp)
        return np.select([t <= t_b, braking, starting, t >= t_g + ramp],
                         [v, v / 2 * (1 + np.cos(math.pi * (t - t_b) / ramp)),
                          v / 2 * (1 - np.cos(math.pi * (t - t_g) / ramp)), v], 0.0)

    def time_at(self, s: float) -> float:
        """The first time the vehicle reaches chainage `s` (for s beyond the stop)."""
        t_c = self._t_brake + 2 * self.ramp_s + self.stop_s
        return t_c + (s - self.s_stop - self.speed_mps * self.ramp_s / 2) / self.speed_mps

    def poses(self, route: Route, t) -> dict[str, np.ndarray]:
        """Vehicle position (metres in the route's CRS), heading and chainage at times `t`."""
        s = self.chainage(t)
        xy, tangent = route.at(s)
        right = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
        pos = xy + self.lane_offset_m * right
        return {"t": np.asarray(t, dtype=np.float64), "s": s, "x": pos[:, 0], "y": pos[:, 1],
                "heading": heading_deg(tangent), "speed": self.speed(t)}
