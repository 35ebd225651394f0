"""Sensitive places (schools, bus stops, care homes) that raise the priority of defects near them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from roadscan.core.errors import ConfigError

KIND_COLUMNS = ("kind", "type", "amenity", "highway")  # the first present names each place's kind


def read_places(path: str | Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Points with a `kind` column from any vector file; polygons (a school's grounds) count by centroid.

    OSM exports name the kind `amenity=school` or `highway=bus_stop`; those columns are used when
    the layer has no `kind` of its own.
    """
    path = Path(path)
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise ConfigError(f"cannot read the places layer ({str(exc).splitlines()[0]})", path=path) from None
    if frame.crs is None:
        raise ConfigError("the places layer has no CRS", path=path, hint="save it with a CRS, e.g. EPSG:4326")
    column = next((c for c in KIND_COLUMNS if c in frame.columns), None)
    if column is None:
        raise ConfigError("the places layer needs a 'kind' column (school, bus_stop, ...)", path=path)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty & frame[column].notna()]
    if frame.empty:
        raise ConfigError("the places layer holds no places with a kind", path=path)
    metric = frame.to_crs(frame.estimate_utm_crs())
    points = metric.geometry.where(metric.geom_type == "Point", metric.geometry.centroid)
    return gpd.GeoDataFrame({"kind": frame[column].astype(str).str.lower().to_numpy()},
                            geometry=points.to_crs(frame.crs).to_numpy(), crs=frame.crs)
