"""Writing a page of features as GeoJSON in the requested CRS."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from roadscan.api.crs import ServedCRS, to_crs
from shapely.geometry import mapping

if TYPE_CHECKING:
    from roadscan.api.ogc.collections import Collection


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
