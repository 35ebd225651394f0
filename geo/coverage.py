"""What a survey saw, in the forms callers hold it: one normalisation shared by merging and condition.

A covered stretch arrives as a shapely geometry, a GeoSeries or a GeoDataFrame (the driven track
buffered by what the camera sees), as chainage intervals (a DataFrame of segment_id, start_m,
end_m), or as segment ids driven end to end.
"""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry


def covered_geometry(covered) -> BaseGeometry | None:
    """The geometric forms as one prepared geometry; None for intervals and id lists."""
    if isinstance(covered, gpd.GeoDataFrame):
        covered = covered.geometry
    if isinstance(covered, gpd.GeoSeries):
        covered = covered.union_all()
    if isinstance(covered, BaseGeometry):
        shapely.prepare(covered)
        return covered
    return None
