"""The ground the sample camera looks at, as functions of map position.

Two pieces, both built once per drive and fixed in the world so that the picture moves correctly as
the vehicle drives:

- `Corridor`: for any map point near the route, which centreline sample is closest. From that,
  chainage and lateral offset follow with two dot products, so lane markings, kerbs and the edge of
  the road can be drawn crisply at any distance.
- `Surface`: what the ground looks like at a lateral offset (a cross-section profile: asphalt, edge
  line, kerb, pavement, grass), with periodic noise textures for asphalt grain, stains and grass.

Coordinates here are "local": metres east/north of `Corridor.origin`, small enough for float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roadscan.sample.route import Route

CELL_M = 0.25  # corridor raster cell
TILE_BITS = 5
TILE = 1 << TILE_BITS  # corridor cells per tile side; only tiles near the route are stored
HALF_WIDTH_M = 8.0  # beyond this from the centreline everything is grass
REACH_M = 512.0  # how far from the route map points may be looked up

# Cross-section of the street, metres from the centreline (right-hand traffic, two lanes).
LANE_EDGE_LINE_M = (3.15, 3.30)
CARRIAGEWAY_M = 3.5
KERB_M = 3.65
PAVEMENT_M = 6.0
CENTRE_LINE_HALF_M = 0.06
DASH_PERIOD_M, DASH_LENGTH_M = 12.0, 3.0
PROFILE_STEP_M = 0.01
PROFILE_BLURS = 8  # profile copies blurred for pixel footprints of 1, 2, 4 ... 128 cm

ASPHALT = (0.36, 0.36, 0.37)
MARKING = (0.86, 0.86, 0.82)
KERB = (0.63, 0.62, 0.59)
PAVEMENT = (0.52, 0.51, 0.49)
GRASS = (0.22, 0.35, 0.12)


class Corridor:
    """Nearest route sample for map points within HALF_WIDTH_M of the route (a sparse tiled raster).

    `origin` lies REACH_M south-west of the route, so every point a camera on the route can see has
    positive local coordinates and falls inside the tile grid: look-ups need no bounds checks.
    """

    def __init__(self, route: Route):
        self.origin = route.xy.min(axis=0) - REACH_M
        xy = route.xy - self.origin
        # Route samples plus one sentinel far away (index -1), which off-corridor cells point at.
        # Separate flat arrays: gathers from them are several times faster than from (n, 2) rows.
        self.px, self.py = (np.r_[xy[:, k], -1e4].astype(np.float32) for k in range(2))
        self.tx, self.ty = (np.r_[route.tangent[:, k], 1.0 - k].astype(np.float32) for k in range(2))
        self.s = np.r_[route.chainage, 0.0].astype(np.float32)
        # Sweep each sample's normal across the corridor; a cell takes the sample whose normal passes
        # closest to the centreline (smallest |offset|), which is the nearest sample.
        offsets = np.arange(-HALF_WIDTH_M, HALF_WIDTH_M + 1e-9, 0.1)
        normal = np.stack([route.tangent[:, 1], -route.tangent[:, 0]], axis=1)
        pts = xy[:, None, :] + offsets[None, :, None] * normal[:, None, :]
        ix = np.floor(pts[..., 0] / CELL_M).astype(np.int64).ravel()
        iy = np.floor(pts[..., 1] / CELL_M).astype(np.int64).ravel()
        sample = np.repeat(np.arange(len(xy)), len(offsets))
        dist = np.tile(np.abs(offsets), len(xy))
        extent = xy.max(axis=0) + REACH_M
        ntx, nty = (int(e / (CELL_M * TILE)) + 1 for e in extent)
        key = iy * (ntx * TILE) + ix
        order = np.lexsort((dist, key))
        first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
        ix, iy, sample = ix[first], iy[first], sample[first]
        tiles, tile_id = np.unique((iy // TILE) * ntx + ix // TILE, return_inverse=True)
        # Tile 0 is the shared empty tile that every cell away from the route maps to.
        self.ntx = ntx
        self.tile_grid = np.zeros(nty * ntx, dtype=np.int32)
        self.tile_grid[tiles] = np.arange(1, len(tiles) + 1, dtype=np.int32)
        self.cells = np.full((len(tiles) + 1) * TILE * TILE, -1, dtype=np.int32)
        self.cells[(tile_id + 1) * TILE * TILE + (iy % TILE) * TILE + ix % TILE] = sample

    def nearest_sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the nearest route sample, -1 outside the corridor (x, y local, within REACH_M)."""
        ix = (x * np.float32(1 / CELL_M)).astype(np.int32)  # positive, so truncation is floor
        iy = (y * np.float32(1 / CELL_M)).astype(np.int32)
        tile = self.tile_grid[(iy >> TILE_BITS) * self.ntx + (ix >> TILE_BITS)]
        return self.cells[(tile << 2 * TILE_BITS) + ((iy & (TILE - 1)) << TILE_BITS) + (ix & (TILE - 1))]

    def chainage_offset(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chainage and lateral offset (metres right of the centreline; thousands off the corridor)."""
        i = self.nearest_sample(x, y)
        dx, dy = x - self.px[i], y - self.py[i]
        tx, ty = self.tx[i], self.ty[i]
        return self.s[i] + dx * tx + dy * ty, dx * ty - dy * tx


def periodic_noise(rng, size: int, correlation_cells: float) -> np.ndarray:
    """Smooth noise that tiles seamlessly (filtered in the Fourier domain), zero mean, unit deviation."""
    white = rng.standard_normal((size, size))
    k = np.fft.fftfreq(size)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    smooth = np.fft.ifft2(np.fft.fft2(white) * np.exp(-2 * (np.pi * correlation_cells) ** 2 * k2)).real
    return ((smooth - smooth.mean()) / smooth.std()).astype(np.float32)


@dataclass(frozen=True)
class Texture:
    """A periodic noise image laid on the ground with `cell_m` metre cells."""

    image: np.ndarray
    cell_m: float

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Values at local map coordinates (positive, so truncation is floor)."""
        n = self.image.shape[0]  # a power of two
        ix = (x * np.float32(1 / self.cell_m)).astype(np.int32) & (n - 1)
        iy = (y * np.float32(1 / self.cell_m)).astype(np.int32) & (n - 1)
        return self.flat[iy * n + ix]

    @property
    def flat(self) -> np.ndarray:
        return self.image.reshape(-1)


class Surface:
    """Colour and texture of the ground as a function of lateral offset, pre-blurred per footprint."""

    def __init__(self, seed: int):
        rng = np.random.default_rng([seed, 0x5A7])
        fine = periodic_noise(rng, 512, 0.7)
        self.grain = Texture(np.sign(fine) * np.abs(fine) ** 1.5 / 1.4, 0.01)  # aggregate: spiky
        self.patches = Texture(periodic_noise(rng, 512, 2.0), 0.05)
        self.stains = Texture(periodic_noise(rng, 512, 4.0), 0.4)
        self.profile = self._profile()

    @staticmethod
    def _profile() -> np.ndarray:
        """(PROFILE_BLURS, n, 5): RGB, texture strength and centre-line coverage per |offset| step."""
        d = np.arange(0, HALF_WIDTH_M + 2, PROFILE_STEP_M)
        zones = [(d < CARRIAGEWAY_M, ASPHALT, 1.0), (d >= CARRIAGEWAY_M, KERB, 0.5),
                 (d >= KERB_M, PAVEMENT, 0.6), (d >= PAVEMENT_M, GRASS, 2.0),
                 ((d >= LANE_EDGE_LINE_M[0]) & (d < LANE_EDGE_LINE_M[1]), MARKING, 0.3)]
        table = np.zeros((len(d), 5))
        for where, colour, strength in zones:
            table[where, :3] = colour
            table[where, 3] = strength
        table[:, 4] = d < CENTRE_LINE_HALF_M
        # Mirror at zero so that blurring the centre line sees both of its halves.
        mirrored = np.concatenate([table[:0:-1], table])
        blurred = []
        for level in range(PROFILE_BLURS):
            width = 2 ** level
            kernel = np.ones(width) / width
            pad = np.pad(mirrored, ((width, width), (0, 0)), mode="edge")
            out = np.stack([np.convolve(pad[:, c], kernel, mode="same") for c in range(5)], axis=1)
            blurred.append(out[width + len(d) - 1: width + 2 * len(d) - 1])
        return np.stack(blurred).astype(np.float32)

    @property
    def columns(self) -> list[np.ndarray]:
        """The profile as five flat tables: red, green, blue, texture strength, centre-line coverage."""
        return [np.ascontiguousarray(self.profile[..., c].reshape(-1)) for c in range(5)]


def dash_coverage(s: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """How much of a pixel the centre line's dashes cover, softened by its footprint along the road."""
    phase = np.mod(s, DASH_PERIOD_M)
    inside = np.minimum(phase, DASH_LENGTH_M - phase)  # signed distance into the dash, metres
    inside = np.maximum(inside, phase - DASH_PERIOD_M)  # the dash that starts at the next period
    sharp = np.clip(inside / footprint + 0.5, 0, 1)
    far = np.clip(footprint / DASH_PERIOD_M, 0, 1)
    return sharp * (1 - far) + np.float32(DASH_LENGTH_M / DASH_PERIOD_M) * far
