"""The defects of the sample drive: what each looks like and where it lies on the road.

Each defect is painted into its own small raster of 1 cm cells in the defect's frame (`a` metres
along the road, `b` metres to the right) as a brightness multiplier on the asphalt beneath it, 1
meaning untouched. Its true footprint is the convex hull of the cells it changes, so the truth that
tests compare against is exactly what the camera was shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from roadscan.sample.route import Route

CELL_M = 0.01
LEVELS = 5  # each defect raster is pooled to 1, 2, 4, 8, 16 cm cells along and across the road
CODES = ("D00", "D10", "D20", "D40")
MAX_CENTRE_OFFSET_M = 2.5  # defect centres lie within this of the centreline
CARRIAGEWAY_HALF_WIDTH_M = 3.5


@dataclass(frozen=True, eq=False)
class Defect:
    """One defect: its class, where it lies, and its brightness multiplier raster."""

    id: int
    code: str
    s: float  # chainage of its centre along the route
    d: float  # metres right of the centreline
    x: float  # centre, metres in the route's CRS
    y: float
    along: tuple[float, float]  # unit vector of the local `a` axis (the road's direction there)
    shade: np.ndarray = field(repr=False)  # (na, nb) multipliers; cell [0, 0] starts at (a0, b0)
    a0: float = field(repr=False)
    b0: float = field(repr=False)
    footprint: shapely.Polygon = field(repr=False)  # in the route's CRS
    length_m: float = 0.0  # extent along the road
    width_m: float = 0.0  # extent across the road
    ripmap: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)

    def to_local(self, x, y, origin=(0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (relative to `origin`) to the defect frame (a along the road, b to the right)."""
        dx = x - np.float32(self.x - origin[0])
        dy = y - np.float32(self.y - origin[1])
        ta, tb = np.float32(self.along[0]), np.float32(self.along[1])
        return dx * ta + dy * tb, dx * tb - dy * ta


# --- shapes: each returns the multiplier raster on a grid centred on the origin -------------------


def _grid(half_a: float, half_b: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.arange(-half_a, half_a, CELL_M) + CELL_M / 2
    b = np.arange(-half_b, half_b, CELL_M) + CELL_M / 2
    return np.meshgrid(a, b, indexing="ij")


def _distance_to_polyline(a: np.ndarray, b: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Distance of every cell to a polyline (all cells x all segments at once)."""
    p = np.stack([a.ravel(), b.ravel()], axis=1)[:, None, :]
    s0, s1 = pts[None, :-1], pts[None, 1:]
    seg = s1 - s0
    t = np.clip(((p - s0) * seg).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-12), 0, 1)
    nearest = s0 + t[..., None] * seg
    return np.sqrt(((p - nearest) ** 2).sum(-1)).min(axis=1).reshape(a.shape)


def _crack_path(rng, length: float) -> np.ndarray:
    """A meandering crack along the first axis, centred on the origin."""
    n = max(int(length / 0.05), 4)
    along = np.linspace(-length / 2, length / 2, n)
    across = np.cumsum(rng.normal(0, 0.01, n)) + rng.normal(0, 0.03) * np.sin(np.linspace(0, np.pi, n))
    across -= across.mean()
    return np.stack([along, across], axis=1)


def _crack_shade(a, b, paths, width: float, rng) -> np.ndarray:
    dist = np.min([_distance_to_polyline(a, b, p) for p in paths], axis=0)
    core = np.clip((width / 2 - dist) / 0.004 + 0.5, 0, 1)
    halo = np.clip(1 - dist / (3 * width), 0, 1)  # spalled, stained edges
    depth = rng.uniform(0.6, 0.75)
    return (1 - depth * core) * (1 - 0.25 * halo)


def _linear_crack(rng, length: float, transverse: bool) -> np.ndarray:
    main = _crack_path(rng, length)
    paths = [main]
    for _ in range(rng.integers(0, 3)):  # short branches off the main crack
        start = main[rng.integers(len(main) // 5, 4 * len(main) // 5)]
        angle = rng.choice([-1, 1]) * rng.uniform(0.4, 1.0)
        branch = _crack_path(rng, rng.uniform(0.15, 0.4))
        branch[:, 0] -= branch[0, 0]
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        paths.append(start + branch @ rot.T)
    half_a = max(np.abs(np.concatenate(paths)[:, 0]).max(), 0.1) + 0.15
    half_b = np.abs(np.concatenate(paths)[:, 1]).max() + 0.15
    if transverse:  # the same crack turned across the road
        paths = [p[:, ::-1] for p in paths]
        half_a, half_b = half_b, half_a
    a, b = _grid(half_a, half_b)
    return _crack_shade(a, b, paths, rng.uniform(0.02, 0.035), rng)


def _alligator(rng) -> np.ndarray:
    """Interlocking polygons: cells of a jittered Voronoi diagram, cracked along their borders."""
    half_a, half_b = rng.uniform(0.5, 1.0), rng.uniform(0.4, 0.75)
    a, b = _grid(half_a + 0.05, half_b + 0.05)
    spacing = rng.uniform(0.12, 0.18)
    ga, gb = np.meshgrid(np.arange(-half_a, half_a + spacing, spacing), np.arange(-half_b, half_b + spacing, spacing))
    seeds = np.stack([ga.ravel(), gb.ravel()], axis=1) + rng.uniform(-0.4, 0.4, (ga.size, 2)) * spacing
    d2 = (a.ravel()[:, None] - seeds[:, 0]) ** 2 + (b.ravel()[:, None] - seeds[:, 1]) ** 2
    nearest = np.argpartition(d2, 1, axis=1)[:, :2]
    first, second = np.sqrt(np.take_along_axis(d2, nearest, 1)).T
    gap = np.abs(second - first).reshape(a.shape)
    width = rng.uniform(0.012, 0.02)
    crack = np.clip((width - gap) / 0.006 + 0.5, 0, 1)
    piece = rng.uniform(0.88, 1.04, len(seeds))[nearest[:, 0]].reshape(a.shape)
    angle = np.arctan2(b / half_b, a / half_a)
    wobble = 1 + 0.12 * np.sin(3 * angle + rng.uniform(0, 6.3)) + 0.06 * np.sin(5 * angle + rng.uniform(0, 6.3))
    inside = np.hypot(a / half_a, b / half_b) < wobble
    return np.where(inside, piece * (1 - 0.65 * crack), 1.0)


def _pothole(rng) -> np.ndarray:
    """A dark irregular hole with a lighter rim of broken asphalt, 0.4-1.2 m across in all."""
    across = rng.uniform(0.5, 1.2)  # the outline rarely reaches its widest both ways
    rim = rng.uniform(0.03, 0.07)
    k = np.arange(2, 6)
    amp, phase = rng.uniform(0, 0.12, k.size) / (k / 2), rng.uniform(0, 2 * np.pi, k.size)
    radius = (across / 2 - rim) / (1 + amp.sum())
    half = across / 2 + 0.02
    a, b = _grid(half, half)
    rho, theta = np.hypot(a, b), np.arctan2(b, a)
    edge = radius * (1 + (amp[:, None, None] * np.cos(k[:, None, None] * theta + phase[:, None, None])).sum(0))
    gravel = rng.uniform(0.7, 1.3, a.shape)
    hole = (0.3 + 0.15 * rho / edge) * gravel  # the walls catch more light than the bottom
    ring = 1.35 * rng.uniform(0.9, 1.1, a.shape)
    return np.where(rho < edge, hole, np.where(rho < edge + rim, ring, 1.0))


def _shape(code: str, rng) -> np.ndarray:
    if code == "D00":
        return _linear_crack(rng, rng.uniform(1.5, 4.0), transverse=False)
    if code == "D10":
        return _linear_crack(rng, rng.uniform(1.0, 3.0), transverse=True)
    if code == "D20":
        return _alligator(rng)
    return _pothole(rng)


def _ripmap(shade: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Copies mean-pooled separately along and across the road (1, 2, 4 ... cm cells each way).

    Far pixels see a long strip of road across a short width; pooling both ways alike would blur a
    crack sideways into blocks, so each pixel reads the copy that matches its footprint both ways.
    """
    def pool(s: np.ndarray, axis: int) -> np.ndarray:
        if s.shape[axis] % 2:
            s = np.concatenate([s, np.ones_like(s.take([0], axis=axis))], axis=axis)
        return s.reshape(s.shape[:axis] + (-1, 2) + s.shape[axis + 1:]).mean(axis=axis + 1)

    maps = {}
    along = shade.astype(np.float32)
    for la in range(LEVELS):
        across = along
        for lb in range(LEVELS):
            maps[la, lb] = across
            across = pool(across, 1)
        along = pool(along, 0)
    return maps


# --- layout ---------------------------------------------------------------------------------------


def _make_defect(i: int, code: str, s: float, route: Route, rng) -> Defect:
    shade = _shape(code, rng)
    changed = np.argwhere(np.abs(shade - 1) > 0.05)
    lo, hi = changed.min(axis=0), changed.max(axis=0) + 1
    shade = shade[lo[0]:hi[0], lo[1]:hi[1]]
    length, width = shade.shape[0] * CELL_M, shade.shape[1] * CELL_M
    # Keep the whole defect on the carriageway, its centre within MAX_CENTRE_OFFSET_M of the centreline.
    reach = min(MAX_CENTRE_OFFSET_M, max(CARRIAGEWAY_HALF_WIDTH_M - 0.2 - width / 2, 0.0))
    d = float(rng.uniform(-reach, reach))
    (cx, cy), (ta, tb) = (v[0] for v in route.at(np.array([s])))
    x, y = cx + d * tb, cy - d * ta
    a0, b0 = -length / 2, -width / 2
    cells = (np.argwhere(np.abs(shade - 1) > 0.05) + 0.5) * CELL_M + (a0, b0)
    hull = shapely.convex_hull(shapely.multipoints(cells))
    world = shapely.transform(hull, lambda p: np.stack([x + p[:, 0] * ta + p[:, 1] * tb,
                                                        y + p[:, 0] * tb - p[:, 1] * ta], axis=1))
    return Defect(id=i, code=code, s=float(s), d=d, x=float(x), y=float(y), along=(float(ta), float(tb)),
                  shade=shade.astype(np.float32), a0=a0, b0=b0, footprint=world,
                  length_m=float(length), width_m=float(width), ripmap=_ripmap(shade))


def layout_defects(route: Route, s_from: float, s_to: float, n: int, seed: int) -> list[Defect]:
    """`n` defects spread evenly (with jitter) over chainages [s_from, s_to], classes balanced."""
    rng = np.random.default_rng([seed, 0xDEF])
    spacing = (s_to - s_from) / n
    s = s_from + (np.arange(n) + 0.5 + rng.uniform(-0.2, 0.2, n)) * spacing
    codes = rng.permutation(np.resize(np.array(CODES), n))
    return [_make_defect(i + 1, str(code), float(si), route, np.random.default_rng([seed, 0xDEF, i]))
            for i, (code, si) in enumerate(zip(codes, s))]
