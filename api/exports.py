"""Defects and segment condition as GIS layers: filtered frames, and files QGIS and ArcGIS open.

The defects are selected by the store's one filter type (api/store/filters.py), as the command line,
the export download and the work lists ask. Layers come in the CRS the user asks for (EPSG:4326 by
default) with human class names, the defect's id as an ordinary attribute (`defect_id`), the source
network's road reference (source_id, road_code, road_chainage_m...), the priority breakdown as JSON
and, given the server's public address, a link to each defect's evidence image and to the map.

GeoPackage: version 1.3 (GDAL 3.6 warns about newer ones), times as DateTime fields, and a
`layer_styles` table (api/qgis_styles.py) so that QGIS opens the layers coloured. Shapefile: one file
set per layer with field names cut to its 10 characters (a `_fields.csv` beside them gives the full
names) and times as ISO text, since the format has no date-time type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from roadscan.api.qgis_styles import layer_styles
from roadscan.api.store.database import Store
from roadscan.api.store.defects import read_condition
from roadscan.api.store.filters import DefectFilter, select_defects
from roadscan.api.store.segments import segment_references
from roadscan.core.errors import ConfigError

FORMATS = {"geojson": ".geojson", "gpkg": ".gpkg", "csv": ".csv", "shp": ".shp"}
GPKG_VERSION = "1.3"  # GDAL 3.6 (Debian 12) reads 1.0-1.3 without a warning; GDAL 3.12 writes 1.4 by default
TIME_COLUMNS = ("first_seen", "last_seen", "updated_at")
SHAPEFILE_FIELD_CHARS = 10
# Shapefile names for the long column names; any other name is cut to 10 characters (and numbered
# where two would clash).
SHAPEFILE_NAMES = {
    "segment_id": "segment_id", "max_confidence": "max_conf", "mean_confidence": "mean_conf",
    "severity_reason": "sev_reason", "priority_breakdown": "prio_parts", "priority_reason": "prio_why",
    "first_survey_id": "first_surv", "last_survey_id": "last_surv", "evidence_observation_id": "evid_obs",
    "source_id": "source_id", "source_kind": "src_kind", "municipality_code": "kommune", "road_code": "road_code",
    "road_chainage_m": "road_ch_m", "external_ref": "ext_ref", "image_url": "image_url", "map_url": "map_url",
    "condition_label": "cond_label", "index_per_100m": "index_100m", "bin_start_m": "bin_start", "bin_end_m": "bin_end",
    "road_start_m": "road_start", "road_bin_start_m": "road_bin_s", "road_bin_end_m": "road_bin_e",
}


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


def export_crs(value: str | int | None) -> CRS | None:
    """The CRS an export is asked for: an EPSG code (25832, EPSG:25832), an OGC URI
    (http://www.opengis.net/def/crs/EPSG/0/25832, .../OGC/1.3/CRS84) or a safe CURIE ([EPSG:25832]);
    None for the default, EPSG:4326."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if re.fullmatch(r"(?i)(ogc:)?crs84|https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84", text):
        text = "OGC:CRS84"
    elif text.isdigit():
        text = f"EPSG:{text}"
    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise ConfigError(f"'{value}' is not a coordinate reference system roadscan knows",
                          hint="give an EPSG code such as EPSG:25832 or an OGC URI such as "
                               "http://www.opengis.net/def/crs/EPSG/0/25832") from None
    if not (crs.is_projected or crs.is_geographic):
        raise ConfigError(f"'{value}' ({crs.name}) cannot place points on the earth; give a projected or "
                          "geographic CRS such as EPSG:25832")
    return crs


def defect_links(table: pd.DataFrame, public_url: str) -> pd.DataFrame:
    """image_url (the evidence image; null where none is stored) and map_url (the map page at the defect)
    of each defect row (id, lat, lon, evidence_observation_id), under the server's public address."""
    base = public_url.rstrip("/")
    ids = table["id"].astype("int64").astype(str)
    has_image = table["evidence_observation_id"].notna() if "evidence_observation_id" in table else False
    image = (base + "/defects/" + ids + "/image").astype(object).where(has_image, None)  # None, not NaN
    view = ("#19/" + table["lat"].astype(float).round(6).astype(str) + "/"
            + table["lon"].astype(float).round(6).astype(str))
    return pd.DataFrame({"image_url": image, "map_url": base + "/map?defect=" + ids + view}, index=table.index)


def defects_layer(store: Store, flt: DefectFilter | None = None, *, public_url: str | None = None) -> gpd.GeoDataFrame:
    """Defects matching the filter, highest priority first, as a point layer in EPSG:4326; with the
    server's public address, the image and map links of each."""
    flt = flt or DefectFilter()
    table = select_defects(store, flt)
    if public_url:
        table = table.join(defect_links(table, public_url))
    layer = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)
    if flt.area is not None:
        layer = layer[layer.within(flt.area)]
    return layer.reset_index(drop=True)


def condition_layer(store: Store, level: str = "segment") -> gpd.GeoDataFrame:
    """Segment condition (whole segments or bins) with each segment's source road reference; bins also get
    their start and end as chainage along the source road (road_start_m + bin start / end)."""
    table = read_condition(store, level)
    refs = segment_references(store, table["segment_id"]).set_index("segment_id")
    table = table.join(refs, on="segment_id")
    if level == "bin":
        start = pd.to_numeric(table["road_start_m"], errors="coerce")
        table["road_bin_start_m"] = start + pd.to_numeric(table["bin_start_m"], errors="coerce")
        table["road_bin_end_m"] = start + pd.to_numeric(table["bin_end_m"], errors="coerce")
    geometry = gpd.GeoSeries.from_wkt(table["geometry_wkt"], crs=4326) if len(table) else gpd.GeoSeries(crs=4326)
    return gpd.GeoDataFrame(table.drop(columns=["geometry_wkt", "id"]), geometry=geometry, crs=4326)


def _with_id_attribute(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The defect's id as the first attribute, `defect_id`, as in every other layer roadscan serves
    (a GeoPackage numbers its features itself, 1..n, and QGIS shows only that)."""
    if "id" not in layer:
        return layer
    out = layer.rename(columns={"id": "defect_id"})
    return out[["defect_id", *[c for c in out.columns if c != "defect_id"]]]


def _times_as(layer: gpd.GeoDataFrame, text: bool) -> gpd.GeoDataFrame:
    out = layer.copy()
    for col in out.columns:
        if col == "geometry" or not (col in TIME_COLUMNS or any(hasattr(v, "isoformat") for v in out[col])):
            continue
        if text:
            out[col] = [v.isoformat() if hasattr(v, "isoformat") and pd.notna(v) else None for v in out[col]]
        else:  # real date-time fields: GDAL writes datetime64 columns as DateTime
            out[col] = pd.to_datetime(out[col], utc=True)
    return out


def _for_file(layer: gpd.GeoDataFrame, *, times_as_text: bool = True) -> gpd.GeoDataFrame:
    """Column types every format holds: times as ISO text (or date-times), the breakdown as JSON text."""
    out = _times_as(_with_id_attribute(layer), times_as_text)
    if "priority_breakdown" in out:
        out["priority_breakdown"] = out["priority_breakdown"].map(
            lambda v: v if isinstance(v, str) or v is None else json.dumps(v))
    return out


def shapefile_names(columns) -> dict[str, str]:
    """Column name -> a unique Shapefile field name of at most 10 characters."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for col in columns:
        if col == "geometry":
            continue
        name = SHAPEFILE_NAMES.get(col, col)[:SHAPEFILE_FIELD_CHARS]
        n = 1
        while name.lower() in used:  # dBase field names compare without case
            n += 1
            name = f"{name[:SHAPEFILE_FIELD_CHARS - len(str(n)) - 1]}_{n}"
        used.add(name.lower())
        out[col] = name
    return out


def _to_crs(layer: gpd.GeoDataFrame, crs: CRS | None) -> gpd.GeoDataFrame:
    return layer if crs is None else layer.to_crs(crs)


def _write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    path.unlink(missing_ok=True)
    geometry_columns = {}
    for i, (name, layer) in enumerate(layers.items()):
        out = _for_file(layer, times_as_text=False)
        if "defect_id" in out:  # the GeoPackage's own feature id is the defect id too (GDAL takes a `fid` column)
            out.insert(0, "fid", out["defect_id"].astype("int64"))  # int64 also when empty (else a text field)
        pyogrio.write_dataframe(out, path, layer=name, driver="GPKG",
                                dataset_options={"VERSION": GPKG_VERSION} if i == 0 else None)
        geometry_columns[name] = pyogrio.read_info(path, layer=name)["geometry_name"] or "geom"
    pyogrio.write_dataframe(layer_styles(geometry_columns), path, layer="layer_styles", driver="GPKG",
                            layer_options={"FID": "id"})


def _write_shapefile(name: str, layer: gpd.GeoDataFrame, path: Path) -> list[Path]:
    out = _for_file(layer)
    names = shapefile_names(out.columns)
    out = out.rename(columns=names)
    if not len(out):  # a Shapefile needs a geometry type, which an empty frame cannot tell
        out = out.set_geometry(gpd.GeoSeries([], crs=out.crs))
    pyogrio.write_dataframe(out, path, driver="ESRI Shapefile", layer_options={"ENCODING": "UTF-8"},
                            geometry_type="Point" if name == "defects" else "LineString")
    fields = path.with_name(f"{path.stem}_fields.csv")
    pd.DataFrame({"shapefile_field": list(names.values()), "name": list(names)}).to_csv(fields, index=False)
    return [path, fields]


def export(store: Store, fmt: str, out: Path, flt: DefectFilter | None = None, *, crs: str | int | CRS | None = None,
           public_url: str | None = None) -> list[Path]:
    """Write defects and segment condition (whole segments and bins); returns the files written.

    GeoPackage: one file, three layers and their styles. GeoJSON, CSV and Shapefile: one file (set) per
    layer beside `out`'s stem (CSV with lat/lon columns for points, in EPSG:4326, and WKT for lines in
    the export CRS, which spreadsheets and QGIS both read). `crs`: see export_crs (GeoJSON is written
    in EPSG:4326 whatever is asked, as RFC 7946 says). `public_url`: the server's public address, for
    each defect's image_url and map_url.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    target = crs if isinstance(crs, CRS) else export_crs(crs)
    out = Path(out)
    if not out.parent.is_dir():
        raise ConfigError("the folder to export into does not exist", path=out.parent)
    layers = {"defects": defects_layer(store, flt, public_url=public_url),
              "segment_condition": condition_layer(store, "segment"), "condition_bins": condition_layer(store, "bin")}
    if fmt != "geojson":
        layers = {name: _to_crs(layer, target) for name, layer in layers.items()}
    if fmt == "gpkg":
        path = out.with_suffix(".gpkg")
        _write_gpkg(layers, path)
        return [path]
    written: list[Path] = []
    for name, layer in layers.items():
        path = out.with_name(f"{out.stem}_{name}{FORMATS[fmt]}")
        if fmt == "geojson":
            _for_file(layer).to_file(path, driver="GeoJSON")
        elif fmt == "shp":
            written += _write_shapefile(name, layer, path)
            continue
        else:
            table = pd.DataFrame(_for_file(layer).drop(columns="geometry"))
            if name == "defects" and target is not None and len(layer):
                table["x"], table["y"] = layer.geometry.x.to_numpy(), layer.geometry.y.to_numpy()
            if name != "defects":
                decimals = 7 if layer.crs is None or layer.crs.is_geographic else 2
                table["wkt"] = shapely.to_wkt(np.asarray(layer.geometry.values), rounding_precision=decimals)
            table.to_csv(path, index=False)
        written.append(path)
    return written
