"""The UTM zone of a position: the one rule for a local metric CRS, used by geo/ and the API's routing.

The zone number follows the standard 6-degree grid with its two exceptions (south-west Norway is
widened into zone 32, Svalbard uses 31/33/35/37), which matter on Nordic roads.
"""

from __future__ import annotations


def utm_zone(lon: float, lat: float) -> int:
    """UTM zone number (1-60) for a WGS84 position, with the Norway and Svalbard exceptions."""
    lon = (float(lon) + 180.0) % 360.0 - 180.0
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        return 32
    if 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:
        return 31 if lon < 9.0 else 33 if lon < 21.0 else 35 if lon < 33.0 else 37
    return zone


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code (326zz north, 327zz south) of the WGS84 UTM zone holding a position."""
    return (32600 if lat >= 0 else 32700) + utm_zone(lon, lat)
