"""Mapbox Vector Tiles of the defects and the segment condition, for the map page and any MVT client.

`GET /tiles/{collection}/{z}/{x}/{y}.mvt` on the Web Mercator quad tree (OGC WebMercatorQuad, the
tile matrix MapLibre, QGIS and OpenLayers use). Each tile is made from the store on request:

* defects: one bbox query on the lat/lon index (the tile plus a buffer), projected to tile
  coordinates with numpy and written as protobuf straight from the columns (`encode_points`, no
  geometry objects); past `MAX_POINTS` in one tile only the most urgent are kept (low zooms over a
  whole municipality; the map shows all of them once zoomed in);
* segment condition: the (small) line table is parsed once per data version into Web Mercator with
  an STRtree; a tile queries the tree, clips to the tile plus buffer, and simplifies to a tile unit,
  encoded with mapbox-vector-tile. Segments below zoom `BIN_ZOOM`, the finer condition bins from there on (segments where no bins exist).

* roads: every stored road segment (id, name, class), the same way: the map's own basemap, whose names
  are its street labels, so the map has context with no tile server elsewhere.

`/tiles/{layer}.json` describes each layer as TileJSON 3.0 (tile URL, zooms, bounds, fields) and
`/tiles/style.json` is a MapLibre style of all three, which the map page draws and QGIS and GDAL read
(QGIS converts it to its own symbology; GDAL's MVT driver opens a layer from its TileJSON).

Tiles are cacheable: a strong ETag from the store's data version and the tile address, 304 on a
matching If-None-Match, and `Cache-Control: public, max-age=60, must-revalidate`.
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import mapbox_vector_tile
import numpy as np
import shapely
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from roadscan.api.hosts import base_url
from roadscan.api import auth
from roadscan.api.ogc.errors import bad_request, not_found
from roadscan.api.store.database import Store
from roadscan.api.store.tiles import condition_lines, defect_points, defect_tile, road_lines
from roadscan.api.store.version import data_version

EXTENT = 4096  # tile units per side
BUFFER = 64  # tile units around the tile that features are kept in (symbols and lines cross tile edges)
MAX_ZOOM = 24
MAX_POINTS = 5_000  # the most urgent defects kept in one tile (about 250 KiB encoded)
BIN_ZOOM = 15  # from this zoom the condition layer shows the fine bins instead of whole segments
EARTH = 6378137.0
HALF = math.pi * EARTH  # half the Web Mercator world, metres
MAX_LAT = 85.0511287798066
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
CACHE_CONTROL = "public, max-age=60, must-revalidate"
CACHE_TILES = 512  # encoded tiles kept in memory, per app
TILE_FORMAT = "3"  # part of every ETag: bump when what a tile holds changes, so clients refetch

ROADS = "roads"
COLLECTIONS = ("defects", "segment_condition", ROADS)
DEFECT_PROPERTIES = ("id", "code", "name", "severity", "priority", "status", "first_seen", "last_seen",
                     # the road reference (issue 14): where it is on the municipality's own roads
                     "road_name", "road_code", "source_id", "road_chainage_m", "chainage_m", "side", "external_ref")

router = APIRouter(tags=["Map"], dependencies=[Depends(auth.reader)])


# -- tile geometry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int

    @property
    def size_m(self) -> float:
        return 2 * HALF / (1 << self.z)

    def bounds_m(self, buffer: float = 0.0) -> tuple[float, float, float, float]:
        """The tile (plus `buffer` tile units on each side) in Web Mercator metres."""
        size, pad = self.size_m, self.size_m * buffer / EXTENT
        minx, maxy = -HALF + self.x * size, HALF - self.y * size
        return minx - pad, maxy - size - pad, minx + size + pad, maxy + pad

    def bounds_lonlat(self, buffer: float = 0.0) -> tuple[float, float, float, float]:
        minx, miny, maxx, maxy = self.bounds_m(buffer)
        lon = np.clip(np.array([minx, maxx]) / HALF * 180.0, -180.0, 180.0)
        lat = np.degrees(np.arctan(np.sinh(np.array([miny, maxy]) / EARTH)))
        return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])


def parse_address(z: str, x: str, y: str) -> TileAddress:
    """z/x/y as the client sent them; a 400 that says what is allowed when they are not a tile."""
    try:
        zi, xi, yi = int(z), int(x), int(y)
    except ValueError:
        raise bad_request(f"tile {z}/{x}/{y} is not a tile address: z, x and y are whole numbers") from None
    if not 0 <= zi <= MAX_ZOOM:
        raise bad_request(f"zoom {zi} is out of range: use 0 to {MAX_ZOOM}")
    n = 1 << zi
    if not (0 <= xi < n and 0 <= yi < n):
        raise bad_request(f"tile {zi}/{xi}/{yi} does not exist: at zoom {zi} x and y run from 0 to {n - 1}")
    return TileAddress(zi, xi, yi)


def lonlat_to_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = np.clip(lat, -MAX_LAT, MAX_LAT)
    return lon * (HALF / 180.0), EARTH * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def to_tile_units(tile: TileAddress, mx: np.ndarray, my: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator metres to tile units: 0..EXTENT from the tile's west and north edges (y down)."""
    minx, _, _, maxy = tile.bounds_m()
    scale = EXTENT / tile.size_m
    return (mx - minx) * scale, (maxy - my) * scale


# -- layers --------------------------------------------------------------------------------------------


@dataclass
class DefectTile:
    ids: list[int]
    x: np.ndarray  # tile units
    y: np.ndarray
    properties: dict[str, Any]  # column name -> values

    def __len__(self) -> int:
        return len(self.ids)


def defect_features(store: Store, tile: TileAddress) -> DefectTile | None:
    """The defects in the tile plus its buffer, in tile units: the `MAX_POINTS` most urgent."""
    rows = defect_points(store, tile.bounds_lonlat(BUFFER), DEFECT_PROPERTIES, MAX_POINTS)
    if not rows:
        return None
    columns = list(zip(*rows))
    lon, lat = np.asarray(columns[-2], float), np.asarray(columns[-1], float)
    px, py = to_tile_units(tile, *lonlat_to_mercator(lon, lat))
    return DefectTile(list(columns[0]), px, py, dict(zip(DEFECT_PROPERTIES, columns)))


# -- a point layer encoder (MVT 2.1) ----------------------------------------------------------------------
# Thousands of points per tile: written straight as protobuf from the columns, no geometry objects
# (mapbox-vector-tile encodes the line layer and decodes in the tests).

_SMALL = [bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(1 << 14)]


def _varint(n: int) -> bytes:
    if n < 16384:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return _varint(tag) + _varint(len(payload)) + payload


def _value(v: Any) -> bytes:
    """An MVT Value message: string, double, (u)int or bool."""
    if isinstance(v, bool):
        return b"\x38" + (b"\x01" if v else b"\x00")
    if isinstance(v, (int, np.integer)):
        v = int(v)
        return (b"\x28" + _varint(v)) if v >= 0 else (b"\x30" + _varint((v << 1) ^ (v >> 63)))
    if isinstance(v, (float, np.floating)):
        return b"\x19" + struct.pack("<d", float(v))
    return _field(0x0A, str(v).encode())


def encode_points(name: str, ids: list[int], x: np.ndarray, y: np.ndarray,
                  properties: dict[str, list[Any]]) -> bytes:
    """One MVT layer of points (tile units, y down) with their properties (None: left out)."""
    keys = list(properties)
    values: dict[tuple[type, Any], int] = {}
    columns = [properties[k] for k in keys]
    zx = (np.asarray(np.round(x), np.int64) << 1) ^ (np.asarray(np.round(x), np.int64) >> 63)
    zy = (np.asarray(np.round(y), np.int64) << 1) ^ (np.asarray(np.round(y), np.int64) >> 63)
    parts = []
    for i, fid in enumerate(ids):
        tags = bytearray()
        for k, column in enumerate(columns):
            v = column[i]
            if v is None:
                continue
            index = values.setdefault((type(v), v), len(values))
            tags += _SMALL[k] + _varint(index)
        geometry = b"\x09" + _varint(int(zx[i])) + _varint(int(zy[i]))
        feature = (b"\x08" + _varint(int(fid)) + _field(0x12, bytes(tags)) + b"\x18\x01"
                   + b"\x22" + _SMALL[len(geometry)] + geometry)
        parts.append(b"\x12" + _varint(len(feature)) + feature)
    layer = b"".join([b"\x78\x02", _field(0x0A, name.encode()), *parts,
                      *(_field(0x1A, k.encode()) for k in keys),
                      *(_field(0x22, _value(v)) for (_t, v) in values),
                      b"\x28" + _varint(EXTENT)])
    return _field(0x1A, layer)


@dataclass
class ConditionIndex:
    """One level of the condition table in Web Mercator, with an STRtree, parsed once per data version."""

    geometries: np.ndarray  # shapely, Web Mercator metres
    properties: list[dict[str, Any]]
    tree: shapely.STRtree

    @classmethod
    def load(cls, store: Store, level: str) -> ConditionIndex:
        rows = condition_lines(store, level)
        geoms = shapely.from_wkt([r.geometry_wkt for r in rows], on_invalid="ignore") if rows else np.array([], object)
        if len(geoms):
            geoms = shapely.transform(geoms, lambda xy: np.column_stack(lonlat_to_mercator(xy[:, 0], xy[:, 1])))
        props = [{"segment_id": r.segment_id, "level": r.level, "road_name": r.road_name,
                  "condition": None if r.condition is None else int(r.condition),
                  "label": r.condition_label,
                  "bin_start_m": None if r.bin_start_m is None else float(r.bin_start_m),
                  "bin_end_m": None if r.bin_end_m is None else float(r.bin_end_m)} for r in rows]
        return cls(np.asarray(geoms, dtype=object), props, shapely.STRtree(geoms))

    @classmethod
    def roads(cls, store: Store) -> ConditionIndex:
        """The stored road segments (the basemap), parsed the same way."""
        rows = road_lines(store)
        geoms = shapely.from_wkt([r.geometry_wkt for r in rows], on_invalid="ignore") if rows else np.array([], object)
        if len(geoms):
            geoms = shapely.transform(geoms, lambda xy: np.column_stack(lonlat_to_mercator(xy[:, 0], xy[:, 1])))
        props = [{"segment_id": r.segment_id, "name": r.name or None, "road_class": r.road_class} for r in rows]
        return cls(np.asarray(geoms, dtype=object), props, shapely.STRtree(geoms))


def condition_features(index: ConditionIndex, tile: TileAddress) -> list[dict[str, Any]]:
    """The condition lines crossing the tile, clipped to it plus its buffer and simplified to a tile unit."""
    box = tile.bounds_m(BUFFER)
    hits = np.sort(index.tree.query(shapely.box(*box)))
    if not len(hits):
        return []
    clipped = shapely.clip_by_rect(index.geometries[hits], *box)
    minx, _, _, maxy = tile.bounds_m()
    scale = EXTENT / tile.size_m
    local = shapely.transform(clipped, lambda xy: np.column_stack(((xy[:, 0] - minx) * scale, (maxy - xy[:, 1]) * scale)))
    local = shapely.simplify(local, 1.0, preserve_topology=False)  # one tile unit
    keep = ~(shapely.is_empty(local) | shapely.is_missing(local)) & (shapely.length(local) > 0)
    features = []
    for i, geom in zip(hits[keep], local[keep]):
        props = {k: v for k, v in index.properties[i].items() if v is not None}
        features.append({"id": int(i) + 1, "geometry": geom, "properties": props})
    return features


# -- the tile cache -------------------------------------------------------------------------------------


class TileCache:
    """Per app: the parsed condition layers of the current data version and the last encoded tiles."""

    def __init__(self, size: int = CACHE_TILES):
        self.size = size
        self.lock = threading.Lock()
        self.version: str | None = None
        self.conditions: dict[str, ConditionIndex] = {}
        self.tiles: OrderedDict[tuple, bytes] = OrderedDict()

    def _sync(self, version: str) -> None:
        if version != self.version:
            self.version, self.conditions, self.tiles = version, {}, OrderedDict()

    def condition(self, store: Store, version: str, level: str) -> ConditionIndex:
        with self.lock:
            self._sync(version)
            index = self.conditions.get(level)
        if index is None:
            index = ConditionIndex.roads(store) if level == ROADS else ConditionIndex.load(store, level)
            with self.lock:
                if self.version == version:
                    self.conditions[level] = index
        return index

    def get(self, version: str, key: tuple) -> bytes | None:
        with self.lock:
            self._sync(version)
            data = self.tiles.get(key)
            if data is not None:
                self.tiles.move_to_end(key)
            return data

    def put(self, version: str, key: tuple, data: bytes) -> None:
        with self.lock:
            if self.version != version:
                return
            self.tiles[key] = data
            while len(self.tiles) > self.size:
                self.tiles.popitem(last=False)


def _cache(request: Request) -> TileCache:
    state = request.app.state
    if getattr(state, "tile_cache", None) is None:
        state.tile_cache = TileCache()
    return state.tile_cache


def render_tile(store: Store, cache: TileCache, version: str, collection: str, tile: TileAddress) -> bytes:
    """The encoded MVT for a collection's tile (one layer named after the collection)."""
    if collection == "defects":
        made = defect_tile(store, tile.z, tile.x, tile.y, layer=collection, properties=DEFECT_PROPERTIES,
                           extent=EXTENT, buffer=BUFFER, limit=MAX_POINTS)  # PostGIS's ST_AsMVT; None on SQLite
        if made is not None:
            return made
        points = defect_features(store, tile)
        return b"" if points is None else encode_points(collection, points.ids, points.x, points.y, points.properties)
    if collection == ROADS:
        features = condition_features(cache.condition(store, version, ROADS), tile)
        return mapbox_vector_tile.encode([{"name": ROADS, "features": features}],
                                         default_options={"y_coord_down": True, "extents": EXTENT}) if features else b""
    index = None
    if tile.z >= BIN_ZOOM:
        index = cache.condition(store, version, "bin")
        if not len(index.geometries):
            index = None
    if index is None:
        index = cache.condition(store, version, "segment")
    features = condition_features(index, tile)
    if not features:
        return b""  # an empty tile is a valid (empty) MVT
    return mapbox_vector_tile.encode([{"name": collection, "features": features}],
                                     default_options={"y_coord_down": True, "extents": EXTENT})


# -- TileJSON and a MapLibre style ----------------------------------------------------------------------

# What each layer holds (TileJSON vector_layers fields) and the zoom its tiles stop at (clients overzoom)
_TYPES = {"id": "Number", "severity": "Number", "priority": "Number", "road_chainage_m": "Number",
          "chainage_m": "Number", "condition": "Number", "bin_start_m": "Number", "bin_end_m": "Number"}
LAYER_FIELDS = {
    "defects": {p: _TYPES.get(p, "String") for p in DEFECT_PROPERTIES},
    "segment_condition": {p: _TYPES.get(p, "String") for p in ("segment_id", "level", "road_name", "condition",
                                                                "label", "bin_start_m", "bin_end_m")},
    ROADS: {"segment_id": "String", "name": "String", "road_class": "String"},
}
LAYER_TITLES = {"defects": "Road defects (colour: priority, size: severity)",
                "segment_condition": "Road condition 1 (good) to 5 (critical) per segment, per 20 m from zoom 15",
                ROADS: "The road network the surveys were mapped on, with street names"}
SOURCE_MAXZOOM = {"defects": 16, "segment_condition": 17, ROADS: 16}
GEOMETRY_TYPES = {"defects": "Point", "segment_condition": "LineString", ROADS: "LineString"}
# All three layers in one tile (MVT tiles are protobuf messages whose layers concatenate): one QGIS
# vector tile layer with /tiles/style.json draws the whole map
ALL = "all"
TILE_SETS = (*COLLECTIONS, ALL)
# Colours (the map page's legend reads them from the style's metadata)
CONDITION_COLOURS = [[1, "#1a9850", "1 good"], [2, "#91cf60", "2 fair"], [3, "#fee08b", "3 poor"],
                     [4, "#fc8d59", "4 very poor"], [5, "#d73027", "5 critical"]]
UNRATED = "#9e9e9e"
PRIORITY_COLOURS = [[0, "#ffffb2"], [25, "#fecc5c"], [50, "#fd8d3c"], [75, "#f03b20"], [100, "#bd0026"]]


def _bounds(store: Store, cache: TileCache, version: str) -> list[float]:
    """The stored roads' extent (lon/lat), else the whole world."""
    index = cache.condition(store, version, ROADS)
    if not len(index.geometries):
        return [-180.0, -85.0511, 180.0, 85.0511]
    minx, miny, maxx, maxy = shapely.total_bounds(index.geometries)
    lon = np.array([minx, maxx]) / HALF * 180.0
    lat = np.degrees(np.arctan(np.sinh(np.array([miny, maxy]) / EARTH)))
    return [round(float(lon[0]), 6), round(float(lat[0]), 6), round(float(lon[1]), 6), round(float(lat[1]), 6)]


def tilejson(base: str, layer: str, bounds: list[float]) -> dict[str, Any]:
    """TileJSON 3.0.0 of one layer, or of all three (https://github.com/mapbox/tilejson-spec)."""
    if layer == ALL:
        parts = [tilejson(base, one, bounds) for one in COLLECTIONS]
        out = {**parts[0], "name": "roadscan", "description": "Roads, road condition and defects",
               "tiles": [f"{base}/tiles/{ALL}/{{z}}/{{x}}/{{y}}.mvt"], "maxzoom": max(SOURCE_MAXZOOM.values())}
        out["vector_layers"] = [v for p in parts for v in p["vector_layers"]]
        out["tilestats"] = {"layerCount": len(parts), "layers": [t for p in parts for t in p["tilestats"]["layers"]]}
        return out
    maxzoom = SOURCE_MAXZOOM[layer]
    return {"tilejson": "3.0.0", "name": f"roadscan {layer}", "description": LAYER_TITLES[layer],
            "version": TILE_FORMAT, "scheme": "xyz", "format": "pbf",
            "tiles": [f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"], "minzoom": 0, "maxzoom": maxzoom,
            "bounds": bounds, "center": [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6),
                                         min(maxzoom, 14)],
            "vector_layers": [{"id": layer, "description": LAYER_TITLES[layer], "minzoom": 0, "maxzoom": maxzoom,
                               "fields": LAYER_FIELDS[layer]}],
            # tippecanoe's tilestats: GDAL's MVT driver takes each layer's geometry type from it
            "tilestats": {"layerCount": 1, "layers": [{"layer": layer, "geometry": GEOMETRY_TYPES[layer]}]},
            "attribution": "roadscan"}


def style(base: str) -> dict[str, Any]:
    """A MapLibre style (v8) of the roads basemap with street labels, the condition lines and the defects,
    the most urgent defect drawn on top. No `glyphs`: MapLibre GL JS 5.11+ draws label text locally
    (TinySDF) without one, so nothing is downloaded; QGIS uses its own fonts."""
    condition: list[Any] = ["match", ["coalesce", ["get", "condition"], 0]]
    for value, colour, _label in CONDITION_COLOURS:
        condition += [value, colour]
    condition.append(UNRATED)
    priority: list[Any] = ["interpolate", ["linear"], ["get", "priority"]]
    for value, colour in PRIORITY_COLOURS:
        priority += [value, colour]
    major = ["match", ["get", "road_class"], ["motorway", "trunk", "primary", "secondary"], True, False]
    return {
        "version": 8, "name": "roadscan",
        "metadata": {"roadscan:condition": CONDITION_COLOURS, "roadscan:unrated": UNRATED,
                     "roadscan:priority": PRIORITY_COLOURS},
        "sources": {layer: {"type": "vector", "url": f"{base}/tiles/{layer}.json"} for layer in COLLECTIONS},
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": "#eef0ea"}},
            {"id": "roads-casing", "type": "line", "source": ROADS, "source-layer": ROADS,
             "layout": {"line-cap": "round", "line-join": "round"},
             "paint": {"line-color": "#b9b9b0",
                       "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.5, 15, 9, 19, 26]}},
            {"id": "roads", "type": "line", "source": ROADS, "source-layer": ROADS,
             "layout": {"line-cap": "round", "line-join": "round"},
             "paint": {"line-color": ["case", major, "#fff3c4", "#ffffff"],
                       "line-width": ["interpolate", ["linear"], ["zoom"], 10, 0.8, 15, 7, 19, 22]}},
            {"id": "condition", "type": "line", "source": "segment_condition", "source-layer": "segment_condition",
             "layout": {"line-cap": "round", "line-join": "round"},
             "paint": {"line-color": condition, "line-opacity": 0.85,
                       "line-width": ["interpolate", ["linear"], ["zoom"], 10, 2, 15, 5, 19, 10]}},
            {"id": "roads-label", "type": "symbol", "source": ROADS, "source-layer": ROADS, "minzoom": 13,
             "filter": ["has", "name"],
             "layout": {"symbol-placement": "line", "text-field": ["get", "name"], "text-font": ["sans-serif"],
                        "text-size": ["interpolate", ["linear"], ["zoom"], 13, 11, 18, 15],
                        "symbol-spacing": 300, "text-max-angle": 30},
             "paint": {"text-color": "#333333", "text-halo-color": "#ffffff", "text-halo-width": 1.5}},
            {"id": "defects", "type": "circle", "source": "defects", "source-layer": "defects",
             # the most urgent on top: a higher sort key is drawn later (above)
             "layout": {"circle-sort-key": ["get", "priority"]},
             "paint": {"circle-color": priority, "circle-stroke-color": "#333", "circle-stroke-width": 0.8,
                       "circle-radius": ["interpolate", ["linear"], ["zoom"],
                                         10, ["+", 1.5, ["*", 0.6, ["get", "severity"]]],
                                         16, ["+", 3, ["*", 1.6, ["get", "severity"]]]]}},
        ],
    }


@router.get("/tiles/style.json", summary="A MapLibre style of the roads basemap, road condition and defects")
def style_json(request: Request) -> JSONResponse:
    return JSONResponse(style(base_url(request)), headers={"Cache-Control": "no-cache"})


@router.get("/tiles/{layer}.json", summary="TileJSON of a tile layer (defects, segment_condition, roads or all)")
def tile_json(request: Request,
              layer: Annotated[str, Path(description="defects, segment_condition, roads or all (the three in one)",
                                         json_schema_extra={"enum": list(TILE_SETS)})]) -> JSONResponse:
    if layer not in TILE_SETS:
        raise not_found(f"no tile layer '{layer}': use {', '.join(TILE_SETS)}")
    store: Store = request.app.state.store
    bounds = _bounds(store, _cache(request), data_version(store))
    return JSONResponse(tilejson(base_url(request), layer, bounds), headers={"Cache-Control": "no-cache"})


@router.get("/tiles/{collection}/{z}/{x}/{y}.mvt", summary="A vector tile (MVT) of defects, segment condition or roads",
            response_class=Response,
            responses={200: {"content": {MEDIA_TYPE: {}}, "description": "the tile (empty when nothing is in it)"},
                       304: {"description": "not modified since the ETag sent in If-None-Match"}})
def tile(request: Request,
         collection: Annotated[str, Path(description="defects, segment_condition, roads or all (the three in one)",
                                         json_schema_extra={"enum": list(TILE_SETS)})],
         z: str, x: str, y: str) -> Response:
    """Web Mercator (WebMercatorQuad) tile z/x/y of `defects` (points: id, code, name, severity, priority,
    status, first_seen, last_seen) or `segment_condition` (lines: segment_id, level, road_name, condition,
    label; whole segments below zoom 15, condition bins from zoom 15) or `roads` (lines: segment_id, name,
    road_class: the road basemap), or `all` three layers in one tile."""
    if collection not in TILE_SETS:
        raise not_found(f"no tiles for collection '{collection}': use {', '.join(TILE_SETS)}")
    address = parse_address(z, x, y)
    store: Store = request.app.state.store
    cache = _cache(request)
    version = data_version(store)
    etag = '"' + hashlib.sha256(f"{TILE_FORMAT}/{version}/{collection}/{address.z}/{address.x}/{address.y}".encode())\
        .hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization, X-API-Key"}
    sent = request.headers.get("if-none-match", "")
    if etag in {t.strip() for t in sent.split(",")} or sent.strip() == "*":
        return Response(status_code=304, headers=headers)
    key = (collection, address.z, address.x, address.y)
    data = cache.get(version, key)
    if data is None:
        data = b"".join(render_tile(store, cache, version, c, address)
                        for c in (COLLECTIONS if collection == ALL else (collection,)))
        cache.put(version, key, data)
    return Response(content=data, media_type=MEDIA_TYPE, headers=headers)


def tile_for(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The x, y of the tile at zoom z holding a lon/lat (for clients and tests)."""
    mx, my = lonlat_to_mercator(np.array([lon]), np.array([lat]))
    size = 2 * HALF / (1 << z)
    return int((mx[0] + HALF) // size), int((HALF - my[0]) // size)


