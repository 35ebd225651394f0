"""Defects and segment condition as GIS layers: filtered frames, and files QGIS and ArcGIS open.

One filter type serves the command line now and the API later, so "what a planner asked for" means
the same everywhere. Layers are EPSG:4326 with human class names and the priority breakdown as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from roadscan.api.store.database import Store
from roadscan.api.store.defects import read_condition, read_defects
from roadscan.core.classes import CLASS_CODES
from roadscan.core.statuses import DEFECT_STATUSES
from roadscan.core.errors import ConfigError

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "csv": ".csv"}


@dataclass
class DefectFilter:
    """Which defects: by class code, minimum severity, road name, area and status."""

    codes: tuple[str, ...] = ()
    min_severity: int | None = None
    road: str | None = None  # case-insensitive substring of the road name
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    area: shapely.Geometry | None = None  # polygon in EPSG:4326
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.codes) - set(CLASS_CODES)
        if unknown:
            raise ConfigError(f"unknown defect class {sorted(unknown)}", hint=f"use {', '.join(CLASS_CODES)}")
        bad = set(self.statuses) - set(DEFECT_STATUSES)
        if bad:
            raise ConfigError(f"unknown status {sorted(bad)}", hint=f"use {', '.join(DEFECT_STATUSES)}")
        if self.min_severity is not None and not 1 <= self.min_severity <= 5:
            raise ConfigError(f"severity runs from 1 to 5, not {self.min_severity}")
        if self.bbox is not None:
            minx, miny, maxx, maxy = self.bbox
            if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
                raise ConfigError(f"bbox {self.bbox} is not min lon, min lat, max lon, max lat in degrees")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ConfigError(f"bbox '{text}' must be four numbers: min lon,min lat,max lon,max lat")
    return values  # type: ignore[return-value]


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
    table = read_defects(store, bbox=flt.bbox, statuses=flt.statuses or None)
    if flt.codes:
        table = table[table["code"].isin(flt.codes)]
    if flt.min_severity is not None:
        table = table[table["severity"] >= flt.min_severity]
    if flt.road:
        table = table[table["road_name"].fillna("").str.contains(flt.road, case=False, regex=False)]
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
