"""Splitting road lines at junctions, for whole networks at once.

Sources differ: GeoDanmark Vejmidte ends every line at a junction, while an OSM way may run through a
dozen of them, sharing a node with each crossing road. Chainage, segment condition and work lists all
need one segment between two junctions, so lines are split

- at every interior vertex that another line shares (OSM's junction nodes; coordinates matched on a
  1 mm grid), and
- where another line's end touches a line's interior without a shared vertex (T-junctions in data
  with looser topology), within `tolerance` metres.

Lines that cross without sharing a vertex are left whole: that is how OSM and GeoDanmark draw bridges
and tunnels. `shapely.unary_union` would node them too, and it also loses which source line a piece
came from, so the split is done on the vertex arrays instead.
"""

from __future__ import annotations

import numpy as np
import shapely

from roadscan.geo.roads.vertices import Vertices

GRID_M = 0.001  # vertices closer than this are the same node
TOLERANCE_M = 0.05  # a line end this close to another line's interior joins it


def split_at_junctions(lines: np.ndarray, tolerance: float = TOLERANCE_M
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split metric LineStrings at junctions. Returns (parts, parent, part_no): the new lines in source
    order, the index of the line each came from, and its position along that line (0, 1, ...)."""
    lines = np.asarray(lines, dtype=object)
    if len(lines) == 0:
        return lines, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    v = Vertices.of(lines)
    at_vertex = _shared_interior_vertices(v)
    t_vertex, t_after, t_xy = _touching_ends(lines, v, tolerance)
    at_vertex[t_vertex] = True

    # One stream of points per line: the original vertices, with the new T-junction points slotted in
    # after the vertex that starts their segment (ordered by distance when several share a segment).
    n_vertex = len(v.xy)
    xy = np.concatenate([v.xy, t_xy])
    line = np.concatenate([v.line, v.line[t_after[0]]])
    is_split = np.concatenate([at_vertex, np.ones(len(t_xy), dtype=bool)])
    position = np.concatenate([np.arange(n_vertex), t_after[0]])
    kind = np.concatenate([np.zeros(n_vertex), np.ones(len(t_xy))])
    offset = np.concatenate([np.zeros(n_vertex), t_after[1]])
    order = np.lexsort((offset, kind, position))
    xy, line, is_split = xy[order], line[order], is_split[order]

    # A split point ends one part and starts the next, so it is written twice. Parts are numbered
    # globally: line i's parts come after all parts of lines < i.
    splits_before = np.cumsum(is_split) - is_split
    repeat = 1 + is_split
    out_xy = np.repeat(xy, repeat, axis=0)
    out_part = np.repeat(line + splits_before, repeat)
    out_part[(np.cumsum(repeat) - 1)[is_split]] += 1
    parts = shapely.linestrings(out_xy, indices=out_part)

    part_start = np.r_[0, np.flatnonzero(np.diff(out_part)) + 1]
    parent = np.repeat(line, repeat)[part_start]
    part_no = np.arange(len(parts)) - np.searchsorted(parent, parent, side="left")
    return parts, parent, part_no


def _shared_interior_vertices(v: Vertices) -> np.ndarray:
    """Mask of interior vertices whose position (on the 1 mm grid) another line also has."""
    key = np.round(v.xy / GRID_M).astype(np.int64)
    order = np.lexsort((key[:, 1], key[:, 0]))
    new_node = np.r_[True, np.any(np.diff(key[order], axis=0) != 0, axis=1)]
    node = np.empty(len(key), dtype=np.int64)
    node[order] = np.cumsum(new_node) - 1
    n_lines = len(v.start) - 1
    node_line = np.unique(node * n_lines + v.line)  # each (node, line) pair once
    lines_at_node = np.bincount(node_line // n_lines, minlength=node.max() + 1)
    interior = np.ones(len(key), dtype=bool)
    interior[v.start[:-1]] = False
    interior[v.start[1:] - 1] = False
    return interior & (lines_at_node[node] >= 2)


def _touching_ends(lines: np.ndarray, v: Vertices, tolerance: float):
    """Line ends within `tolerance` of another line's interior. Returns the vertices to split at (where
    the touch is within tolerance of an existing vertex), and for the rest the vertex after which a new
    point goes with its distance from that vertex, and the new points' coordinates."""
    ends = np.r_[v.start[:-1], v.start[1:] - 1]
    owner = v.line[ends]
    points = shapely.points(v.xy[ends])
    hit, target = shapely.STRtree(lines).query(points, predicate="dwithin", distance=tolerance)
    keep = owner[hit] != target
    hit, target = hit[keep], target[keep]
    d = shapely.line_locate_point(lines[target], points[hit])
    inside = (d > tolerance) & (d < shapely.length(lines[target]) - tolerance)
    target, d = target[inside], d[inside]

    k, from_k = v.locate(target, d)
    to_next = v.along[k + 1] - v.along[k] - from_k
    near_vertex = np.minimum(from_k, to_next) <= tolerance
    vertex = np.where(from_k <= to_next, k, k + 1)[near_vertex]

    k, from_k, target = k[~near_vertex], from_k[~near_vertex], target[~near_vertex]
    # Two line ends touching the same spot give one split, not two.
    _, first = np.unique(np.c_[k, np.round(from_k / GRID_M)], axis=0, return_index=True)
    k, from_k = k[first], from_k[first]
    new_xy = v.xy[k] + v.tangent(k) * from_k[:, None]
    return vertex, (k, from_k), new_xy
