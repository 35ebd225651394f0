"""The coordinate reference systems the API serves, named by their OGC URIs (OGC API Features Part 2).

Geometry is stored as longitude/latitude (CRS84 axis order). Every other CRS is reached with pyproj in
its authority's axis order, as Part 2 requires: EPSG:4326 is latitude, longitude and EPSG:3006
(SWEREF99 TM) is northing, easting; CRS84, 3857, 25832, 25833 and 3067 are easting first.
Transformers are built once per CRS and cached: building one costs far more than using it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

from roadscan.core.errors import ConfigError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"

# EPSG codes served besides CRS84: WGS 84, Web Mercator, ETRS89 / UTM 32N and 33N (Denmark, Norway),
# SWEREF99 TM (Sweden), ETRS-TM35FIN (Finland).
EPSG_CODES = (4326, 3857, 25832, 25833, 3006, 3067)
SUPPORTED = (CRS84, *(EPSG_URI.format(code=c) for c in EPSG_CODES))


@dataclass(frozen=True)
class ServedCRS:
    """One CRS a client may ask for: its URI, how pyproj knows it, and how finely to round in it."""

    uri: str
    pyproj_name: str
    decimals: int  # about a centimetre: 7 decimals of a degree, 2 of a metre

    @property
    def is_crs84(self) -> bool:
        return self.uri == CRS84


def parse_crs(uri: str | None, *, parameter: str = "crs") -> ServedCRS:
    """The served CRS a URI (or a safe CURIE like `[EPSG:25832]`) names; ConfigError for any other."""
    if uri is None:
        return _served(CRS84)
    text = uri.strip()
    if text.startswith("[") and text.endswith("]"):  # safe CURIE, e.g. [EPSG:4326] or [OGC:CRS84]
        text = text[1:-1]
    upper = text.upper()
    if upper in ("OGC:CRS84", "CRS84"):
        text = CRS84
    elif upper.startswith("EPSG:") and upper[5:].isdigit():
        text = EPSG_URI.format(code=int(upper[5:]))
    elif text.startswith("https://"):
        text = "http://" + text[len("https://"):]
    if text not in SUPPORTED:
        raise ConfigError(f"{parameter} '{uri}' is not a CRS this server offers",
                          hint="use one of " + ", ".join(SUPPORTED))
    return _served(text)


@lru_cache(maxsize=None)
def _served(uri: str) -> ServedCRS:
    if uri == CRS84:
        return ServedCRS(uri, "OGC:CRS84", 7)
    code = int(uri.rsplit("/", 1)[1])
    return ServedCRS(uri, f"EPSG:{code}", 7 if CRS.from_epsg(code).is_geographic else 2)


@lru_cache(maxsize=None)
def _transformer(source: str, target: str) -> Transformer:
    # always_xy=False: coordinates in and out follow each CRS's authority axis order.
    return Transformer.from_crs(source, target, always_xy=False)


def to_crs(geometries: np.ndarray, crs: ServedCRS) -> np.ndarray:
    """Stored (CRS84) shapely geometries in `crs`, in its axis order and rounded to about a centimetre."""
    geometries = np.asarray(geometries, dtype=object)
    if crs.is_crs84:
        return shapely.transform(geometries, lambda xy: np.round(xy, crs.decimals))
    transformer = _transformer("OGC:CRS84", crs.pyproj_name)

    def project(xy: np.ndarray) -> np.ndarray:
        a, b = transformer.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([a, b]), crs.decimals)

    return shapely.transform(geometries, project)


def bbox_to_crs84(values: tuple[float, float, float, float], crs: ServedCRS) -> tuple[float, float, float, float]:
    """A bbox given in `crs` (its axis order) as min lon, min lat, max lon, max lat.

    The edges are densified before transforming, so that a projected box's curved outline in
    longitude/latitude is still wholly inside the result.
    """
    if crs.is_crs84:
        return values
    lo1, lo2, hi1, hi2 = values
    steps = np.linspace(0.0, 1.0, 21)
    a = np.concatenate([lo1 + (hi1 - lo1) * steps, np.full(21, hi1), hi1 - (hi1 - lo1) * steps, np.full(21, lo1)])
    b = np.concatenate([np.full(21, lo2), lo2 + (hi2 - lo2) * steps, np.full(21, hi2), hi2 - (hi2 - lo2) * steps])
    lon, lat = _transformer(crs.pyproj_name, "OGC:CRS84").transform(a, b)
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise ConfigError(f"bbox {list(values)} lies outside the area where {crs.uri} is defined")
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def axis_is_lat_first(crs: ServedCRS) -> bool:
    """Whether the CRS's first axis is latitude (EPSG:4326): its bbox reads min lat, min lon, ..."""
    return crs.uri == EPSG_URI.format(code=4326)
