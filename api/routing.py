"""Driving order for a work list over the road network, not as the crow flies.

The stored segments become a graph (endpoints are nodes, edge weight the segment's length); each stop
is a node inserted on its segment at its chainage. Road distances between all stops come from one
Dijkstra per stop; the tour is a nearest-neighbour tour from the start, improved by 2-opt (each
pass tries every reversal at a position at once, with numpy). The graph is undirected: the network
holds no one-way information. Dead ends within BRIDGE_M of another road end are joined (the store
holds only the segments surveys touched, so small gaps occur). Stops no road connects are reached by
the straight line and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from roadscan.core.crs import utm_epsg

SNAP_M = 0.5  # segment endpoints closer than this are one junction
# The store keeps the segments surveys touched, so a stretch no survey covered can leave a short gap:
# a dead end this close to another road end is joined to it by the straight line.
BRIDGE_M = 10.0
DETOUR = 1.4  # straight line to road distance, for stops no road connects


@dataclass
class Route:
    order: np.ndarray  # indices into the stops, in driving order
    leg_m: np.ndarray  # distance from the previous stop (the start for the first), per stop in order
    by_road: np.ndarray  # per leg: False where no road connects them and the straight line (x DETOUR) was used
    total_m: float


AREA_MARGIN_M = 1500.0  # how far beyond its stops a route may wander


class RoadNetwork:
    """The segments (segment_id, geometry_wkt in EPSG:4326, length_m) as a graph in a local metric CRS."""

    def __init__(self, segments: pd.DataFrame):
        if segments.empty:
            raise ValueError("no road segments")
        lines = shapely.from_wkt(segments["geometry_wkt"].to_numpy())
        minx, miny, maxx, maxy = shapely.total_bounds(lines)
        self._to_m = Transformer.from_crs(4326, utm_epsg((minx + maxx) / 2, (miny + maxy) / 2), always_xy=True)
        self.lines = shapely.transform(lines, lambda xy: np.column_stack(self._to_m.transform(xy[:, 0], xy[:, 1])))
        length = pd.to_numeric(segments["length_m"], errors="coerce").to_numpy(dtype=float)
        self.length = np.where(np.isfinite(length) & (length > 0), length, shapely.length(self.lines))
        self.ids = segments["segment_id"].astype(str).to_numpy()
        self.index = pd.Index(self.ids)
        n = len(self.lines)
        ends = np.vstack([shapely.get_coordinates(shapely.get_point(self.lines, 0)),
                          shapely.get_coordinates(shapely.get_point(self.lines, -1))])
        _, node = np.unique(np.round(ends / SNAP_M).astype(np.int64), axis=0, return_inverse=True)
        self.u, self.v = node[:n], node[n:]
        self.n_nodes = int(node.max()) + 1
        xy = np.zeros((self.n_nodes, 2))
        xy[node] = ends
        self.bridges = self._bridges(xy)
        self.tree = shapely.STRtree(self.lines)

    def _bridges(self, xy: np.ndarray) -> list[tuple[int, int, float]]:
        """(a, b, metres) joining each dead end to the nearest other road end within BRIDGE_M."""
        degree = np.bincount(np.concatenate([self.u, self.v]), minlength=self.n_nodes)
        dead = np.flatnonzero(degree == 1)
        if len(dead) == 0:
            return []
        partner = np.full(self.n_nodes, -1)
        partner[self.u], partner[self.v] = self.v, self.u  # a dead end's own segment's other end
        points = shapely.points(xy)
        which, near = shapely.STRtree(points).query(points[dead], predicate="dwithin", distance=BRIDGE_M)
        a, b = dead[which], near
        keep = (a != b) & (b != partner[a])
        a, b = a[keep], b[keep]
        d = np.hypot(*(xy[a] - xy[b]).T)
        out = {}
        for i, j, w in zip(a.tolist(), b.tolist(), d.tolist()):
            if i not in out or w < out[i][2]:
                out[i] = (i, j, w)
        return list(out.values())

    def to_metric(self, lon, lat) -> np.ndarray:
        x, y = self._to_m.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.column_stack([np.atleast_1d(x), np.atleast_1d(y)])

    def locate(self, lon, lat, segment_id=None, chainage_m=None) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, fraction along it) per point: the given segment and chainage where they are
        known and on this network, the nearest segment otherwise."""
        lon = np.asarray(lon, dtype=float)
        n = len(lon)
        seg = np.full(n, -1, dtype=np.int64)
        frac = np.zeros(n)
        if segment_id is not None and chainage_m is not None:
            ids = pd.Series(np.asarray(segment_id, dtype=object))
            known = self.index.get_indexer(ids.where(ids.notna(), None).map(lambda v: None if v is None else str(v)))
            ch = pd.to_numeric(pd.Series(np.asarray(chainage_m, dtype=object)), errors="coerce").to_numpy(dtype=float)
            ok = (known >= 0) & np.isfinite(ch)
            seg[ok] = known[ok]
            frac[ok] = np.clip(ch[ok] / self.length[known[ok]], 0.0, 1.0)
        todo = np.flatnonzero(seg < 0)
        if len(todo):
            points = shapely.points(self.to_metric(lon[todo], np.asarray(lat, dtype=float)[todo]))
            which, nearest = self.tree.query_nearest(points, return_distance=False, all_matches=False)
            seg[todo[which]] = nearest
            frac[todo[which]] = shapely.line_locate_point(self.lines[nearest], points[which], normalized=True)
        return seg, frac

    def graph(self, seg: np.ndarray, frac: np.ndarray) -> tuple[nx.Graph, np.ndarray]:
        """The network with a node per stop inserted on its segment; returns (graph, stop node ids)."""
        g = nx.Graph()

        def add(a: int, b: int, w: float) -> None:
            if a == b:
                return
            if not g.has_edge(a, b) or g[a][b]["weight"] > w:  # parallel roads: the shorter counts
                g.add_edge(a, b, weight=w)

        stop_nodes = self.n_nodes + np.arange(len(seg))
        g.add_nodes_from(stop_nodes.tolist())
        for a, b, w in self.bridges:
            add(a, b, w)
        with_stops = set(seg.tolist())
        for i in range(len(self.lines)):
            if i not in with_stops:
                add(int(self.u[i]), int(self.v[i]), float(self.length[i]))
        order = np.lexsort((frac, seg))
        for s in np.unique(seg):
            on = order[seg[order] == s]
            chain = [int(self.u[s]), *stop_nodes[on].tolist(), int(self.v[s])]
            at = np.concatenate([[0.0], frac[on], [1.0]]) * self.length[s]
            for a, b, w in zip(chain[:-1], chain[1:], np.diff(at)):
                if a >= self.n_nodes and b >= self.n_nodes and w == 0:
                    g.add_edge(a, b, weight=0.0)  # two stops at one place
                else:
                    add(a, b, float(w))
        return g, stop_nodes


def road_distances(network: RoadNetwork, lon, lat, segment_id=None, chainage_m=None) -> tuple[np.ndarray, np.ndarray]:
    """Matrix of road distances (m) between the points, and whether each pair is connected by road;
    unconnected pairs get the straight line times DETOUR."""
    seg, frac = network.locate(lon, lat, segment_id, chainage_m)
    g, nodes = network.graph(seg, frac)
    n = len(nodes)
    dist = np.full((n, n), np.inf)
    column = {int(node): j for j, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        reached = nx.single_source_dijkstra_path_length(g, int(node), weight="weight")
        hit = [(column[k], d) for k, d in reached.items() if k in column]
        if hit:
            cols, values = zip(*hit)
            dist[i, list(cols)] = values
    connected = np.isfinite(dist)
    if not connected.all():
        xy = network.to_metric(lon, lat)
        straight = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) * DETOUR
        dist = np.where(connected, dist, straight)
    return dist, connected


def nearest_neighbour(dist: np.ndarray, first: int = 0) -> np.ndarray:
    n = len(dist)
    tour, left = [first], np.ones(n, dtype=bool)
    left[first] = False
    for _ in range(n - 1):
        row = np.where(left, dist[tour[-1]], np.inf)
        nxt = int(np.argmin(row))
        tour.append(nxt)
        left[nxt] = False
    return np.asarray(tour)


def two_opt(tour: np.ndarray, dist: np.ndarray, max_passes: int = 50) -> np.ndarray:
    """Improve an open tour with a fixed first stop by reversing stretches while that shortens it."""
    tour = np.array(tour)
    n = len(tour)
    for _ in range(max_passes):
        improved = False
        for i in range(1, n - 1):
            a, b = tour[i - 1], tour[i]
            js = np.arange(i + 1, n)
            c = tour[js]
            has_next = js < n - 1
            e = tour[np.minimum(js + 1, n - 1)]
            old = dist[a, b] + np.where(has_next, dist[c, e], 0.0)
            new = dist[a, c] + np.where(has_next, dist[b, e], 0.0)
            k = int(np.argmin(new - old))
            if new[k] - old[k] < -1e-6:
                j = js[k]
                tour[i:j + 1] = tour[i:j + 1][::-1]
                improved = True
        if not improved:
            break
    return tour


def _around(segments: pd.DataFrame, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """The segments within AREA_MARGIN_M of the stops' bounding box.

    A crew's route stays near its stops, and a Dijkstra per stop over a whole municipality's network
    costs seconds; the cut keeps it to the neighbourhood (bench/api.py: work list scenario).
    """
    dlat = AREA_MARGIN_M / 111_000
    dlon = dlat / max(np.cos(np.radians(np.nanmean(lat))), 0.1)
    box = shapely.box(np.nanmin(lon) - dlon, np.nanmin(lat) - dlat, np.nanmax(lon) + dlon, np.nanmax(lat) + dlat)
    near = shapely.intersects(shapely.from_wkt(segments["geometry_wkt"].to_numpy()), box)
    return segments[near] if near.any() else segments


def plan_route(segments: pd.DataFrame, stops: pd.DataFrame, start: tuple[float, float] | None = None) -> Route:
    """Driving order of `stops` (lon, lat, and segment_id + chainage_m where known) from `start` (lon, lat),
    or from the first stop when no start is given."""
    n = len(stops)
    if n == 0:
        return Route(np.zeros(0, dtype=int), np.zeros(0), np.zeros(0, dtype=bool), 0.0)
    lon, lat = stops["lon"].to_numpy(dtype=float), stops["lat"].to_numpy(dtype=float)
    network = RoadNetwork(_around(segments, np.append(lon, start[0] if start else lon[0]),
                                  np.append(lat, start[1] if start else lat[0])))
    seg_ids = stops["segment_id"] if "segment_id" in stops else None
    chainage = stops["chainage_m"] if "chainage_m" in stops else None
    if start is not None:  # the start is point 0, located on the nearest road
        lon, lat = np.concatenate([[start[0]], lon]), np.concatenate([[start[1]], lat])
        if seg_ids is not None:
            seg_ids = pd.concat([pd.Series([None], dtype=object), seg_ids.astype(object)], ignore_index=True)
            chainage = pd.concat([pd.Series([np.nan]), pd.to_numeric(chainage, errors="coerce")], ignore_index=True)
    dist, connected = road_distances(network, lon, lat, seg_ids, chainage)
    tour = two_opt(nearest_neighbour(dist, 0), dist)
    legs = np.concatenate([[0.0], dist[tour[:-1], tour[1:]]])
    by_road = np.concatenate([[True], connected[tour[:-1], tour[1:]]])
    if start is not None:
        tour, legs, by_road = tour[1:] - 1, legs[1:], by_road[1:]
    return Route(tour, legs, by_road, float(legs.sum()))
