"""Defects and segment condition as GIS layers: filtered frames, and files QGIS and ArcGIS open.

The defects are selected by the store's one filter type (api/store/filters.py), as the command line,
the export download and the work lists ask. Layers are EPSG:4326 with human class names and the
priority breakdown as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from roadscan.api.store.database import Store
from roadscan.api.store.defects import read_condition
from roadscan.api.store.filters import DefectFilter, select_defects
from roadscan.core.errors import ConfigError

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "csv": ".csv"}


def read_area(path: Path) -> shapely.Geometry:
    """The union of the polygons in a vector file, in EPSG:4326."""
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends for unreadable files
        raise ConfigError(f"cannot read the area file ({str(exc).splitlines()[0]})", path=path) from None
    polygons = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise ConfigError("the area file holds no polygons", path=path)
    if polygons.crs is None:
        raise ConfigError("the area file has no CRS", path=path, hint="save it with a CRS (e.g. EPSG:25832)")
    return polygons.to_crs(4326).union_all()


def defects_layer(store: Store, flt: DefectFilter | None = None) -> gpd.GeoDataFrame:
    """Defects matching the filter, highest priority first, as a point layer in EPSG:4326."""
    flt = flt or DefectFilter()
    table = select_defects(store, flt)
    layer = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)
    if flt.area is not None:
        layer = layer[layer.within(flt.area)]
    return layer.reset_index(drop=True)


def condition_layer(store: Store, level: str = "segment") -> gpd.GeoDataFrame:
    table = read_condition(store, level)
    geometry = gpd.GeoSeries.from_wkt(table["geometry_wkt"], crs=4326) if len(table) else gpd.GeoSeries(crs=4326)
    return gpd.GeoDataFrame(table.drop(columns=["geometry_wkt", "id"]), geometry=geometry, crs=4326)


def _for_file(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Column types every format holds: datetimes as ISO text, the breakdown as a JSON string."""
    out = layer.copy()
    for col in out.columns:
        if col != "geometry" and any(hasattr(v, "isoformat") for v in out[col]):
            out[col] = [v.isoformat() if hasattr(v, "isoformat") and pd.notna(v) else None for v in out[col]]
    if "priority_breakdown" in out:
        out["priority_breakdown"] = out["priority_breakdown"].map(
            lambda v: v if isinstance(v, str) or v is None else json.dumps(v))
    return out


def export(store: Store, fmt: str, out: Path, flt: DefectFilter | None = None) -> list[Path]:
    """Write defects and segment condition (whole segments and bins); returns the files written.

    GeoPackage: one file, three layers. GeoJSON and CSV: one file per layer beside `out`'s stem
    (CSV with lat/lon columns for points and WKT for lines, which spreadsheets and QGIS both read).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise ConfigError("the folder to export into does not exist", path=out.parent)
    layers = {"defects": defects_layer(store, flt), "segment_condition": condition_layer(store, "segment"),
              "condition_bins": condition_layer(store, "bin")}
    written: list[Path] = []
    if fmt == "gpkg":
        path = out.with_suffix(".gpkg")
        path.unlink(missing_ok=True)
        for name, layer in layers.items():
            _for_file(layer).to_file(path, layer=name, driver="GPKG")
        return [path]
    for name, layer in layers.items():
        path = out.with_name(f"{out.stem}_{name}{FORMATS[fmt]}")
        if fmt == "geojson":
            _for_file(layer).to_file(path, driver="GeoJSON")
        else:
            table = pd.DataFrame(_for_file(layer).drop(columns="geometry"))
            if name != "defects":
                table["wkt"] = shapely.to_wkt(layer.geometry.values, rounding_precision=7)
            table.to_csv(path, index=False)
        written.append(path)
    return written
