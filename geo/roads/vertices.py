"""The vertices of many lines as flat arrays, with each vertex's distance along its line.

Splitting lines and finding the local direction of a road at a snapped point both ask "which vertex
pair of line j holds chainage c?". Shapely answers that one geometry at a time (shapely.ops.substring
loops in Python), so the vertices are laid end to end in one array with a running distance, and one
`np.searchsorted` answers it for millions of (line, chainage) pairs at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class Vertices:
    """Vertices of `lines` laid end to end.

    xy: (N, 2) coordinates; line: (N,) line of each vertex; start: (n_lines + 1,) index of each line's
    first vertex (and N at the end); along: (N,) running distance in CRS units over all lines, with no
    gap between one line's last vertex and the next line's first, so that it never decreases.
    """

    xy: np.ndarray
    line: np.ndarray
    start: np.ndarray
    along: np.ndarray

    @classmethod
    def of(cls, lines: np.ndarray) -> Vertices:
        xy, line = shapely.get_coordinates(lines, return_index=True)
        start = np.zeros(len(lines) + 1, dtype=np.int64)
        np.cumsum(shapely.get_num_coordinates(lines), out=start[1:])
        step = np.zeros(len(xy))
        step[1:] = np.hypot(*np.diff(xy, axis=0).T)
        step[start[:-1]] = 0.0  # no distance from one line to the next
        return cls(xy=xy, line=line, start=start, along=np.cumsum(step))

    def chainage(self) -> np.ndarray:
        """Distance of each vertex from the start of its own line."""
        return self.along - self.along[self.start[self.line]]

    def locate(self, line: np.ndarray, chainage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For (line, chainage) pairs: the vertex k starting the segment that holds the chainage, and
        the distance from vertex k. Chainages beyond a line's ends fall on its first or last segment."""
        key = self.along[self.start[line]] + chainage
        k = np.searchsorted(self.along, key, side="right") - 1
        k = np.clip(k, self.start[line], self.start[line + 1] - 2)
        return k, key - self.along[k]

    def tangent(self, k: np.ndarray) -> np.ndarray:
        """Unit direction of the segment from vertex k to vertex k + 1, shape (len(k), 2)."""
        d = self.xy[k + 1] - self.xy[k]
        return d / np.hypot(d[:, 0], d[:, 1])[:, None]
