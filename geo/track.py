"""A GPS track: validated fixes, and the vehicle's pose (position, heading, speed) at any time.

Every reader (GPX, NMEA, CSV, GoPro GPMF, EXIF) hands its raw fixes to `Track.from_fixes`, so the
same checks apply whatever the source, and every record that is dropped is counted by reason in
`Track.skipped` for the job's summary, never silently lost.

Pose between fixes is linear interpolation in a local metric CRS (positions), of per-fix speed, and
of heading on the circle. Receivers report heading and speed from Doppler, which is better than
anything derived from positions; where a source has none they are derived here:

- speed: displacement over one second of positions smoothed over one second. At 1 Hz that is the
  centred difference of the neighbours (a 3 s stop still reads as zero); at 10-20 Hz the smoothing
  averages the fix-to-fix jitter away.
- heading: direction of the smoothed path a few metres behind to a few metres ahead, over moving
  fixes only, so GPS jitter at a standstill never spins it; while stationary the last good heading
  is held (the first good one before the vehicle has moved). A path that wanders on the spot
  (jitter the speed test missed) gives no heading either.
- distance along the track: on smoothed positions, not counting segments where the vehicle stands
  or wanders on the spot, so a long stop does not add metres of jitter.

Headings are true (clockwise from true north), as receivers report them. Positions live in a map
grid whose north differs from true north by up to ~3 degrees in a UTM zone, so `pose` also gives
`grid_heading` for offsets in x/y.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from roadscan.core.errors import GPSError
from roadscan.geo.crs import WGS84, local_crs, to_metric, transformer

GAP_S = 5.0  # no fix for longer than this is a gap: frames in it are not placed by guesswork
STATIONARY_MPS = 0.5  # below this the vehicle is taken to stand still (heading held, distance not counted)
SMOOTH_S = 1.0  # positions are averaged over this many seconds before deriving speed and heading
HEADING_BASE_M = 5.0  # heading is the direction from this far behind to this far ahead along the path
MIN_HEADING_BASE_M = 1.0  # a shorter baseline than this gives no heading (held from a good one instead)
# A path that wanders (GPS jitter at a standstill the speed test missed) is no direction: the
# straight line from behind to ahead must be at least this share of the path between them. A
# 90-degree corner within the baseline still passes (0.71); a U-turn or jitter does not.
MIN_STRAIGHTNESS = 0.6
SINGLE_FIX_TOLERANCE_S = GAP_S / 2  # a one-fix track (one photo) places frames this close to its fix

OPTIONAL_COLUMNS = ("speed_mps", "heading_deg", "accuracy_m", "altitude_m")
SOURCE_HINT = "check the file is the survey's GPS log (GPX, NMEA, CSV, GoPro MP4 or EXIF-tagged JPEGs)"


@dataclass
class Track:
    """Fixes sorted by time, one per timestamp, with x/y in `crs`, and derived speed and heading.

    `fixes` columns: time (UTC), lat, lon, x, y, speed_mps, heading_deg (clockwise from true north),
    accuracy_m, altitude_m (NaN where unknown), distance_m (along the track), moving (bool).
    `skipped` counts dropped records by reason; `format` names the reader ("gpx", "nmea", "csv",
    "gpmf", "exif"). Build one with `Track.from_fixes`, which validates.
    """

    fixes: pd.DataFrame
    crs: str
    source: Path
    format: str
    skipped: dict[str, int] = field(default_factory=dict)
    video_start: pd.Timestamp | None = None  # UTC of the first video frame, when the source is the video
    gap_s: float = GAP_S

    @classmethod
    def from_fixes(cls, raw: pd.DataFrame, *, source: str | Path, format: str,
                   skipped: dict[str, int] | None = None, video_start=None, gap_s: float = GAP_S,
                   min_fixes: int = 2) -> Track:
        """Validate a reader's fixes (columns time, lat, lon and any of OPTIONAL_COLUMNS) into a Track.

        Records without a time or a usable position, and repeated timestamps, are dropped and counted;
        out-of-order records are sorted into place and counted (they are kept). Raises GPSError when
        fewer than `min_fixes` usable fixes remain (1 only makes sense for a single photo).
        """
        source = Path(source)
        skipped = dict(skipped or {})
        fixes, more = _validated(raw)
        for reason, n in more.items():
            skipped[reason] = skipped.get(reason, 0) + n
        skipped = {k: int(v) for k, v in skipped.items() if v}
        if len(fixes) < min_fixes:
            found = "no usable GPS fixes" if not len(fixes) else f"only {len(fixes)} usable GPS fix"
            why = f" ({describe_skipped(skipped)})" if skipped else ""
            need = "" if not len(fixes) else f"; a track needs at least {min_fixes}"
            raise GPSError(f"{found} in this {format.upper()} source{why}{need}", path=source, hint=SOURCE_HINT)
        crs = local_crs(fixes["lon"], fixes["lat"])
        fixes["x"], fixes["y"] = to_metric(fixes["lon"], fixes["lat"], crs)
        fixes = _with_motion(fixes, crs)
        if video_start is not None:
            video_start = _utc_timestamp(video_start)
        return cls(fixes=fixes, crs=crs, source=source, format=format, skipped=skipped,
                   video_start=video_start, gap_s=gap_s)

    # --- what the pipeline reads -----------------------------------------------------------------

    @property
    def start(self) -> pd.Timestamp:
        return self.fixes["time"].iloc[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.fixes["time"].iloc[-1]

    def __len__(self) -> int:
        return len(self.fixes)

    @property
    def length_m(self) -> float:
        return float(self.fixes["distance_m"].iloc[-1])

    @cached_property
    def _t(self) -> np.ndarray:
        return seconds_since(self.fixes["time"], self.start)

    @property
    def gaps(self) -> pd.DataFrame:
        """Stretches longer than `gap_s` without a fix: start, end (UTC) and seconds."""
        dt = np.diff(self._t)
        i = np.flatnonzero(dt > self.gap_s)
        times = self.fixes["time"]
        return pd.DataFrame({"start": times.iloc[i].to_numpy(), "end": times.iloc[i + 1].to_numpy(),
                             "seconds": dt[i]})

    def pose(self, times) -> pd.DataFrame:
        """Pose at each time (UTC): lat, lon, x, y, heading, grid_heading, speed, distance, inside, in_gap.

        `heading` is clockwise from true north; `grid_heading` from the grid north of `crs`, which is
        what offsets in x/y (projecting a detection onto the map) need.

        `inside` is False before the first fix and after the last (pose columns NaN there); `in_gap`
        is True strictly between two fixes more than `gap_s` apart (pose interpolated, but unreliable).
        """
        times = utc_index(times)
        ts = seconds_since(times, self.start)
        t, f = self._t, self.fixes
        if len(t) == 1:
            inside = np.abs(ts) <= SINGLE_FIX_TOLERANCE_S
            in_gap = np.zeros(len(ts), bool)
            x = np.full(len(ts), f["x"].iloc[0])
            y = np.full(len(ts), f["y"].iloc[0])
            speed = np.full(len(ts), f["speed_mps"].iloc[0])
            heading = np.full(len(ts), f["heading_deg"].iloc[0])
            distance = np.zeros(len(ts))
        else:
            inside = (ts >= t[0]) & (ts <= t[-1])
            j = np.clip(np.searchsorted(t, ts, side="right") - 1, 0, len(t) - 2)
            in_gap = inside & (t[j + 1] - t[j] > self.gap_s) & (ts > t[j]) & (ts < t[j + 1])
            x, y = np.interp(ts, t, f["x"].to_numpy()), np.interp(ts, t, f["y"].to_numpy())
            speed = np.interp(ts, t, f["speed_mps"].to_numpy())
            heading = _interp_angle(ts, t, f["heading_deg"].to_numpy())
            distance = np.interp(ts, t, f["distance_m"].to_numpy())
        x, y, speed, heading, distance = (np.where(inside, a, np.nan) for a in (x, y, speed, heading, distance))
        lon, lat = transformer(self.crs, WGS84).transform(x, y)
        lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
        grid_heading = (heading + grid_north(lon, lat, self.crs)) % 360.0
        return pd.DataFrame({"time": times, "lat": lat, "lon": lon, "x": x, "y": y, "heading": heading,
                             "grid_heading": grid_heading, "speed": speed, "distance": distance,
                             "inside": inside, "in_gap": in_gap})


# --- helpers shared with the sampler and the readers -----------------------------------------------


def utc_index(times) -> pd.DatetimeIndex:
    """Times as a UTC DatetimeIndex (naive times are taken as UTC)."""
    idx = pd.DatetimeIndex(pd.to_datetime(times))
    return idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")


def seconds_since(times, origin: pd.Timestamp) -> np.ndarray:
    """Float seconds from `origin`, whatever the resolution pandas chose for the times."""
    return np.asarray((utc_index(times) - origin) / pd.Timedelta(seconds=1), dtype=np.float64)


def grid_north(lon, lat, crs: str) -> np.ndarray:
    """Bearing of true north in `crs`'s grid, degrees clockwise from grid north (meridian convergence).

    Headings are true (clockwise from true north), as receivers report them; offsets in x/y need the
    grid heading, true heading + this. In a UTM zone it reaches about 3 degrees at the zone's edges.
    """
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    x0, y0 = to_metric(lon, np.clip(lat - 5e-5, -90, 90), crs)  # a few metres along the meridian
    x1, y1 = to_metric(lon, np.clip(lat + 5e-5, -90, 90), crs)
    return np.degrees(np.arctan2(x1 - x0, y1 - y0))


def describe_skipped(skipped: dict[str, int]) -> str:
    """'3 bad NMEA checksum, 1 duplicate timestamp' for messages."""
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items() if n)


def _utc_timestamp(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


# --- validation -------------------------------------------------------------------------------------


def _validated(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Drop unusable records, sort, drop repeated times; counts per reason."""
    missing = [c for c in ("time", "lat", "lon") if c not in raw.columns]
    if missing:  # a reader bug, not a user error
        raise ValueError(f"fix table lacks columns {missing}")
    df = pd.DataFrame({
        "time": pd.to_datetime(raw["time"], utc=True, errors="coerce"),
        "lat": pd.to_numeric(raw["lat"], errors="coerce").astype(np.float64),
        "lon": pd.to_numeric(raw["lon"], errors="coerce").astype(np.float64),
    })
    for c in OPTIONAL_COLUMNS:
        df[c] = pd.to_numeric(raw[c], errors="coerce").astype(np.float64) if c in raw.columns else np.nan
    df = df.reset_index(drop=True)
    counts: dict[str, int] = {}

    def drop(mask, reason: str) -> None:
        nonlocal df
        mask = np.asarray(mask, bool)
        if mask.any():
            counts[reason] = counts.get(reason, 0) + int(mask.sum())
            df = df[~mask].reset_index(drop=True)

    drop(df["time"].isna(), "no time")
    drop(df["lat"].isna() | df["lon"].isna(), "missing coordinates")
    drop((df["lat"].abs() > 90) | (df["lon"].abs() > 180), "coordinates out of range")
    drop((df["lat"].abs() < 1e-7) & (df["lon"].abs() < 1e-7), "position 0,0 (no fix)")
    t = seconds_since(df["time"], df["time"].iloc[0]) if len(df) else np.empty(0)
    behind = t < np.maximum.accumulate(t) if len(t) else np.empty(0, bool)
    if behind.any():
        counts["out-of-order timestamps (re-sorted, kept)"] = int(behind.sum())
        df = df.iloc[np.argsort(t, kind="stable")].reset_index(drop=True)
    drop(df["time"].duplicated(keep="first"), "duplicate timestamp")

    df.loc[~(df["speed_mps"] >= 0), "speed_mps"] = np.nan  # negative speeds are "unknown" in some logs
    df["heading_deg"] = df["heading_deg"] % 360.0
    df.loc[~(df["accuracy_m"] > 0), "accuracy_m"] = np.nan
    return df, counts


# --- speed, heading and distance ---------------------------------------------------------------------


def _with_motion(f: pd.DataFrame, crs: str) -> pd.DataFrame:
    """Fill speed and heading where the source has none, and add distance_m and moving."""
    t = seconds_since(f["time"], f["time"].iloc[0])
    x, y = f["x"].to_numpy(), f["y"].to_numpy()
    if len(t) == 1:
        f["distance_m"] = 0.0
        f["moving"] = ~(f["speed_mps"] < STATIONARY_MPS)
        return f
    xs, ys = _window_mean(t, x - x[0], SMOOTH_S) + x[0], _window_mean(t, y - y[0], SMOOTH_S) + y[0]

    # speed: displacement of the smoothed positions over SMOOTH_S around each fix (one-sided at the ends)
    lo, hi = np.maximum(t - SMOOTH_S / 2, t[0]), np.minimum(t + SMOOTH_S / 2, t[-1])
    dx = np.interp(hi, t, xs) - np.interp(lo, t, xs)
    dy = np.interp(hi, t, ys) - np.interp(lo, t, ys)
    derived = np.hypot(dx, dy) / np.maximum(hi - lo, 1e-9)
    source_speed = f["speed_mps"].to_numpy()
    speed = np.where(np.isfinite(source_speed), source_speed, derived)
    moving = speed >= STATIONARY_MPS

    # heading: over the path of moving fixes; source heading where given; held while stationary
    derived_heading = np.full(len(t), np.nan)
    wander = np.zeros(len(t), bool)
    if moving.sum() >= 2:
        mx, my = xs[moving], ys[moving]
        s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(mx), np.diff(my)))])
        back, ahead = np.clip(s - HEADING_BASE_M, 0, s[-1]), np.clip(s + HEADING_BASE_M, 0, s[-1])
        hx = np.interp(ahead, s, mx) - np.interp(back, s, mx)
        hy = np.interp(ahead, s, my) - np.interp(back, s, my)
        straight = np.hypot(hx, hy) >= MIN_STRAIGHTNESS * (ahead - back)
        good = straight & (np.hypot(hx, hy) >= MIN_HEADING_BASE_M)
        idx = np.flatnonzero(moving)
        grid = np.degrees(np.arctan2(hx[good], hy[good]))
        north = grid_north(f["lon"].to_numpy()[idx[good]], f["lat"].to_numpy()[idx[good]], crs)
        derived_heading[idx[good]] = (grid - north) % 360.0  # grid bearing to true bearing
        wander[idx[~straight]] = True
    source_heading = f["heading_deg"].to_numpy()
    heading = np.where(np.isfinite(source_heading) & moving, source_heading, derived_heading)
    heading = pd.Series(heading).ffill().bfill().to_numpy()
    if not np.isfinite(heading).any():  # never moved: whatever the source said is all there is
        heading = pd.Series(source_heading).ffill().bfill().to_numpy()

    # distance: smoothed steps, except between two fixes standing still (or wandering in place)
    still = ~moving | wander
    step = np.hypot(np.diff(xs), np.diff(ys))
    step[still[:-1] & still[1:]] = 0.0
    distance = np.concatenate([[0.0], np.cumsum(step)])

    return f.assign(speed_mps=speed, heading_deg=heading, distance_m=distance, moving=moving)


def _window_mean(t: np.ndarray, v: np.ndarray, width: float) -> np.ndarray:
    """Mean of v over fixes within +-width/2 of each fix (cumulative sums: one pass, no loop)."""
    lo = np.searchsorted(t, t - width / 2, side="left")
    hi = np.searchsorted(t, t + width / 2, side="right")
    c = np.concatenate([[0.0], np.cumsum(v)])
    return (c[hi] - c[lo]) / (hi - lo)


def _interp_angle(ts: np.ndarray, t: np.ndarray, deg: np.ndarray) -> np.ndarray:
    """Linear interpolation of angles on the circle (350 and 10 meet at 0, not 180)."""
    r = np.radians(deg)
    s, c = np.interp(ts, t, np.sin(r)), np.interp(ts, t, np.cos(r))
    return np.degrees(np.arctan2(s, c)) % 360.0
