"""Which video frames to run the detector on: one every few metres travelled, not every frame.

At 30 fps and 50 km/h consecutive frames are half a metre apart; detecting on all of them costs
time and finds the same crack thirty times. Sampling by distance keeps the road coverage even
whatever the speed, and a vehicle standing at a junction contributes no frames at all.

Every frame gets a row and a reason, so the job can report what was skipped and why:

    sampled                 kept: the frame nearest a spacing mark
    between samples         moving, but another frame is nearer the mark
    stationary              speed below min_speed_mps
    GPS gap                 between two fixes more than the track's gap_s apart
    outside the GPS track   before the first fix or after the last
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from roadscan.core.errors import ConfigError
from roadscan.geo.track import Track, utc_index

SAMPLED, BETWEEN, STATIONARY, GAP, OUTSIDE = (
    "sampled", "between samples", "stationary", "GPS gap", "outside the GPS track")
REASONS = (SAMPLED, BETWEEN, STATIONARY, GAP, OUTSIDE)


def sample_by_distance(times, track: Track, spacing_m: float = 3.0, min_speed_mps: float = 0.5) -> pd.DataFrame:
    """One row per frame: frame, time, keep, reason, distance, lat, lon, x, y, heading, grid_heading, speed.

    heading is clockwise from true north; grid_heading from the grid north of track.crs (for
    offsets in x/y). Pose columns are NaN for frames outside the track.

    `times` are the frames' UTC times in frame order. Marks are laid every `spacing_m` metres along
    the track from the first moving frame (which is kept); for each mark the frame whose distance
    is nearest is kept. A one-fix track (a single photo) keeps its frame whatever the speed.
    """
    if not _finite(spacing_m) or spacing_m <= 0:
        raise ConfigError(f"the frame spacing must be a positive number of metres, got {spacing_m!r}",
                          hint="use e.g. --spacing 3 (one frame every 3 m travelled)")
    if not _finite(min_speed_mps) or min_speed_mps < 0:
        raise ConfigError(f"the minimum speed must be zero or more (m/s), got {min_speed_mps!r}",
                          hint="use e.g. 0.5 m/s to skip frames taken while standing still")
    times = utc_index(times)
    pose = track.pose(times)
    reason = np.full(len(times), BETWEEN, dtype=object)
    outside = ~pose["inside"].to_numpy()
    gap = pose["in_gap"].to_numpy() & ~outside
    slow = pose["speed"].to_numpy() < min_speed_mps if len(track) > 1 else np.zeros(len(times), bool)
    slow &= ~outside & ~gap
    reason[slow], reason[gap], reason[outside] = STATIONARY, GAP, OUTSIDE

    candidates = np.flatnonzero(~(outside | gap | slow))
    keep = np.zeros(len(times), bool)
    if len(candidates):
        keep[candidates[_nearest_to_marks(pose["distance"].to_numpy()[candidates], spacing_m)]] = True
    reason[keep] = SAMPLED

    return pd.DataFrame({
        "frame": np.arange(len(times)), "time": times, "keep": keep, "reason": reason.astype(str),
        **{c: pose[c].to_numpy() for c in ("distance", "lat", "lon", "x", "y", "heading", "grid_heading", "speed")},
    })


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _nearest_to_marks(d: np.ndarray, spacing: float) -> np.ndarray:
    """Positions in `d` (non-decreasing distances) nearest each mark d[0], d[0]+spacing, ..."""
    d = np.maximum.accumulate(d)  # guard against rounding making a distance step back
    marks = d[0] + spacing * np.arange(int(np.floor((d[-1] - d[0]) / spacing + 1e-9)) + 1)
    right = np.clip(np.searchsorted(d, marks, side="left"), 0, len(d) - 1)
    left = np.clip(right - 1, 0, len(d) - 1)
    nearest = np.where(np.abs(d[left] - marks) <= np.abs(d[right] - marks), left, right)
    return np.unique(nearest)
