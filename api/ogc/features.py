"""Selecting features (bbox, datetime, paging) and writing them as GeoJSON in the requested CRS."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from roadscan.api.crs import CRS84, ServedCRS, to_crs
from roadscan.api.ogc.collections import Collection
from roadscan.api.ogc.params import Interval

TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"


def rfc3339(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def json_value(value: Any) -> Any:
    """A cell as plain JSON: NaN/inf/NaT/NA as null (JSON has no such numbers), times as RFC 3339 UTC,
    numpy scalars as Python, and the same inside a dict (the priority breakdown)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def select_features(layer: gpd.GeoDataFrame, collection: Collection, bbox: shapely.Geometry | None,
           interval: Interval | None) -> gpd.GeoDataFrame:
    """Features whose geometry intersects the bbox and whose time span overlaps the interval."""
    if bbox is not None and len(layer):
        layer = layer[layer.intersects(bbox)]
    if interval is not None and collection.time is not None and len(layer):
        start, end = (layer[c] for c in collection.time)
        keep = pd.Series(True, index=layer.index)
        if interval.end is not None:
            keep &= start <= pd.Timestamp(interval.end)
        if interval.start is not None:
            keep &= end >= pd.Timestamp(interval.start)
        layer = layer[keep.fillna(False).astype(bool)]
    return layer


def features(layer: gpd.GeoDataFrame, collection: Collection, crs: ServedCRS) -> list[dict[str, Any]]:
    geometries = to_crs(np.asarray(layer.geometry.array, dtype=object), crs) if len(layer) else []
    ids = [json_value(v) for v in layer[collection.id_column]]
    columns = [c for c in layer.columns if c not in ("geometry", collection.id_column)]
    out = []
    for fid, geom, record in zip(ids, geometries, layer[columns].to_dict("records")):
        out.append({
            "type": "Feature",
            "id": fid,
            "geometry": None if geom is None or geom.is_empty else mapping(geom),
            "properties": {k: json_value(v) for k, v in record.items()},
        })
    return out


def extent(layer: gpd.GeoDataFrame, collection: Collection) -> dict[str, Any]:
    """The collection's spatial (CRS84) and temporal extent, from the stored features."""
    geoms = layer.geometry[~(layer.geometry.isna() | layer.geometry.is_empty)] if len(layer) else layer.geometry
    bbox = [float(v) for v in geoms.total_bounds] if len(geoms) else [-180.0, -90.0, 180.0, 90.0]
    out: dict[str, Any] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if collection.time is not None:
        start, end = (layer[c].dropna() for c in collection.time)
        interval = [rfc3339(start.min()) if len(start) else None, rfc3339(end.max()) if len(end) else None]
        out["temporal"] = {"interval": [interval], "trs": TRS}
    return out
