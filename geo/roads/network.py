"""The road network value: segments between junctions in a metric CRS, and what loading it left out."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.transformer import Transformer

from roadscan.core.errors import RoadNetworkError
from roadscan.geo.crs import WGS84
from roadscan.geo.roads.vertices import Vertices

SEGMENT_COLUMNS = ("segment_id", "source_id", "part", "name", "road_class", "speed_kmh", "length_m", "source_kind",
                   "municipality_code", "road_code", "road_start_m")


@dataclass(frozen=True)
class LoadReport:
    """What happened to the source's features on the way to segments, for the run summary."""

    source_features: int = 0
    empty_geometries: int = 0  # None or empty, left out
    multi_lines: int = 0  # MultiLineStrings, exploded into their lines
    not_lines: int = 0  # points and polygons, left out
    not_roads: int = 0  # no value in a `require` column (OSM railways, rivers...), left out
    dropped_by_class: int = 0  # mapped to "drop" (platforms, roads under construction...)
    lines: int = 0  # lines kept
    segments: int = 0  # after splitting at junctions
    unknown_class: int = 0  # segments no mapping rule matched
    mapping: str | None = None  # the mapping table used, None when no table fitted the source
    source_crs: str | None = None
    crs: str | None = None  # the metric CRS the segments are in

    def summary(self) -> str:
        """One line per fact worth telling the operator."""
        lines = [f"{self.source_features} features read -> {self.lines} road lines -> {self.segments} segments "
                 f"split at junctions, in {self.crs} (source {self.source_crs})",
                 f"road classes from mapping [{self.mapping}]" if self.mapping else
                 "no road class mapping fits this source: every segment is 'unknown' (give one with "
                 "--road-classes FILE; in Python load_network(..., mapping=FILE))"]
        skipped = {"empty geometries": self.empty_geometries, "non-line geometries": self.not_lines,
                   "features that are not roads": self.not_roads, "features mapped to drop": self.dropped_by_class}
        lines += [f"left out {n} {what}" for what, n in skipped.items() if n]
        if self.multi_lines:
            lines.append(f"exploded {self.multi_lines} multi-lines into their parts")
        if self.unknown_class and self.mapping:
            lines.append(f"{self.unknown_class} segments have no known road class ('unknown')")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """Road segments between junctions, one row each, in a metric CRS.

    `segments` columns: segment_id (stable across loads of the same file), source_id, part (position
    along the source feature), name, road_class (arterial, collector, local, access, path, unknown),
    speed_kmh (NaN where unknown), length_m, and the source's own road reference: source_kind (the
    mapping table that read it: geodanmark, osm, nvdb...), municipality_code and road_code (GeoDanmark
    kommunekode and vejkode, NVDB kommune and vegsystemreferanse, OSM ref; NA where the source has
    none), road_start_m (where the segment starts along its source feature's line, so that a chainage
    on the segment plus road_start_m is the chainage along the source road); geometry; index 0..n-1,
    the positions `tree` answers with.
    Treat it as read-only: the spatial index and vertex arrays are built from it once.
    """

    segments: gpd.GeoDataFrame
    report: LoadReport
    path: Path | None = None  # the file it was read from; None for a frame built in memory

    def __len__(self) -> int:
        return len(self.segments)

    def __repr__(self) -> str:
        return f"RoadNetwork({len(self)} segments in {self.report.crs} from {self.path or 'a GeoDataFrame'})"

    @property
    def crs(self) -> CRS:
        return self.segments.crs

    @cached_property
    def geometries(self) -> np.ndarray:
        return np.asarray(self.segments.geometry.array, dtype=object)

    @cached_property
    def tree(self) -> shapely.STRtree:
        """Spatial index over the segments, positions matching rows of `segments`."""
        return shapely.STRtree(self.geometries)

    @cached_property
    def vertices(self) -> Vertices:
        return Vertices.of(self.geometries)

    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the segments."""
        return _lonlat_bounds(self.segments.total_bounds, self.crs)

    def to_wgs84(self) -> gpd.GeoDataFrame:
        """The segments in EPSG:4326, as roadscan stores geometry."""
        return self.segments.to_crs(WGS84)

    def check_covers(self, points, *, margin_m: float = 100.0) -> None:
        """Raise RoadNetworkError when the points lie wholly outside the network's extent.

        `points`: a GeoSeries/GeoDataFrame (no CRS means the network's), or a (min lon, min lat, max lon,
        max lat) box. Catches the network of the wrong town before a whole survey snaps to nothing.
        """
        if isinstance(points, (gpd.GeoSeries, gpd.GeoDataFrame)):
            geoms = points.geometry if points.crs is not None else points.geometry.set_crs(self.crs)
            geoms = geoms[~(geoms.is_empty | geoms.isna())]
            if geoms.empty:
                return
            box, lonlat = geoms.to_crs(self.crs).total_bounds, tuple(geoms.to_crs(WGS84).total_bounds)
        else:
            lonlat = tuple(points)
            box = Transformer.from_crs(WGS84, self.crs, always_xy=True).transform_bounds(*lonlat)
        minx, miny, maxx, maxy = self.segments.total_bounds
        if (box[0] > maxx + margin_m or box[2] < minx - margin_m
                or box[1] > maxy + margin_m or box[3] < miny - margin_m):
            raise RoadNetworkError(
                f"the road network does not reach the survey: it covers {_describe(self.bounds_lonlat())}, "
                f"the points lie at {_describe(lonlat)}",
                path=self.path,
                hint="use the road network of the surveyed area, or check the GPS positions")


def _lonlat_bounds(box, crs) -> tuple[float, float, float, float]:
    return tuple(float(b) for b in Transformer.from_crs(crs, WGS84, always_xy=True).transform_bounds(*box))


def _describe(box) -> str:
    return f"lat {box[1]:.5f}..{box[3]:.5f}, lon {box[0]:.5f}..{box[2]:.5f}"
