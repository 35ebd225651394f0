"""Snapping speed: roadscan.geo.snap against a plain geopandas.sjoin_nearest, in the same run.

A synthetic grid-like network (blocks of 100 m, every segment with a jittered middle vertex) and random
points: 90 % scattered around the roads as GPS-tagged detections are (offset ~ N(0, 5 m)), 10 %
anywhere. sjoin_nearest gets the same tolerance as max_distance; it finds the nearest segment and the
distance only, while snap also gives chainage, side and snapped position and still names the nearest
road for points beyond the tolerance. Spatial indexes are built before timing (both are cached). The
machine may be busy with other work: compare the ratio, which both sides share, not the raw times.

    .venv/bin/python bench/snap.py                       # 1,000,000 points, 100,000 segments
    .venv/bin/python bench/snap.py --points 100000 --segments 10000
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely

from roadscan.geo.roads import load_network
from roadscan.geo.snap import snap

CRS = "EPSG:25832"
BLOCK_M = 100.0


def grid_network(n_segments: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """About n_segments horizontal and vertical block edges of a square grid, each with three vertices."""
    side = int(np.ceil((1 + np.sqrt(1 + 2 * n_segments)) / 2))  # 2 * side * (side - 1) >= n_segments
    i, j = np.meshgrid(np.arange(side - 1), np.arange(side), indexing="ij")
    i, j = i.ravel(), j.ravel()
    starts = np.r_[np.c_[i, j], np.c_[j, i]] * BLOCK_M  # horizontal, then vertical edges
    steps = np.r_[np.tile([BLOCK_M, 0.0], (len(i), 1)), np.tile([0.0, BLOCK_M], (len(i), 1))]
    starts, steps = starts[:n_segments], steps[:n_segments]
    middle = starts + steps / 2 + rng.normal(0, 2.0, starts.shape)
    coords = np.stack([starts, middle, starts + steps], axis=1).reshape(-1, 2)
    lines = shapely.linestrings(coords, indices=np.repeat(np.arange(len(starts)), 3))
    classes = rng.choice(["residential", "tertiary", "primary", "service", "cycleway"], len(lines))
    return gpd.GeoDataFrame({"osm_id": np.arange(len(lines)), "highway": classes,
                             "name": [f"Street {k % 997}" for k in range(len(lines))]},
                            geometry=lines, crs=CRS)


def random_points(network, n: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    near = int(n * 0.9)
    lines = network.geometries[rng.integers(0, len(network), near)]
    on_line = shapely.line_interpolate_point(lines, rng.random(near), normalized=True)
    xy = shapely.get_coordinates(on_line) + rng.normal(0, 5.0, (near, 2))
    minx, miny, maxx, maxy = network.segments.total_bounds
    anywhere = np.c_[rng.uniform(minx, maxx, n - near), rng.uniform(miny, maxy, n - near)]
    xy = np.r_[xy, anywhere]
    return gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS)


def timed(label, fn):
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    print(f"{label:<38} {seconds:8.2f} s")
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=100_000)
    parser.add_argument("--tolerance", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    frame = grid_network(args.segments, rng)
    network, _ = timed(f"load_network ({len(frame):,} lines)", lambda: load_network(frame))
    points = random_points(network, args.points, rng)
    right = network.segments[["segment_id", "geometry"]]
    probe = shapely.points([0.0], [0.0])  # STRtrees build on their first query
    timed("build spatial indexes (both)", lambda: (network.tree.query(probe), network.vertices,
                                                   right.sindex.query(probe)))

    ours, t_ours = timed("roadscan snap", lambda: snap(points, network, args.tolerance))
    base, t_base = timed("geopandas sjoin_nearest", lambda: gpd.sjoin_nearest(
        points, right, how="left", max_distance=args.tolerance, distance_col="distance"))

    n = len(points)
    print(f"\n{n:,} points, {len(network):,} segments, tolerance {args.tolerance} m; "
          f"{ours['on_network'].mean():.1%} on the network")
    print(f"roadscan snap      {n / t_ours:12,.0f} points/s")
    print(f"sjoin_nearest      {n / t_base:12,.0f} points/s")
    print(f"ratio snap / sjoin_nearest time: {t_ours / t_base:.2f} "
          f"({'faster' if t_ours < t_base else 'slower'} by {max(t_ours, t_base) / min(t_ours, t_base):.2f}x)")

    # Same answer where both answer: the distance to the nearest segment.
    base = base[~base.index.duplicated()]
    both = ours["on_network"].to_numpy()
    diff = np.abs(ours["offset_m"].to_numpy()[both] - base["distance"].to_numpy()[both])
    print(f"largest offset difference to sjoin_nearest: {diff.max():.2e} m")


if __name__ == "__main__":
    main()
