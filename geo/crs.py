"""A local metric CRS for data that arrives in longitude/latitude.

Distances, headings and ground offsets are computed in metres. When no road network fixes the CRS,
the UTM zone of the data's centre serves: within a zone the scale error stays under 0.1 %, far below
GPS noise. The zone rule itself (with the Norway and Svalbard exceptions) is core.crs.utm_zone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Transformer

from roadscan.core.crs import utm_epsg, utm_zone

__all__ = ["WGS84", "utm_zone", "utm_crs", "local_crs", "transformer", "to_metric"]

WGS84 = "EPSG:4326"


def utm_crs(lon: float, lat: float) -> str:
    """EPSG code ("EPSG:326zz" north, "EPSG:327zz" south) of the WGS84 UTM zone holding a position."""
    return f"EPSG:{utm_epsg(lon, lat)}"


def local_crs(lon, lat) -> str:
    """UTM CRS of the centre of the bounding box of the given positions (NaNs ignored)."""
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    centre_lon = (np.nanmin(lon) + np.nanmax(lon)) / 2
    centre_lat = (np.nanmin(lat) + np.nanmax(lat)) / 2
    return utm_crs(centre_lon, centre_lat)


@lru_cache(maxsize=32)
def transformer(src: str, dst: str) -> Transformer:
    """Cached pyproj transformer in x/y (lon/lat) axis order: building one costs milliseconds."""
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude/latitude arrays to x/y metres in `crs`."""
    x, y = transformer(WGS84, crs).transform(np.asarray(lon, dtype=np.float64),
                                             np.asarray(lat, dtype=np.float64))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
