"""The planner's map: `/map`, a MapLibre GL JS page over the vector tiles and the OGC API.

Everything the page loads comes from this server (`/map/static/`, MapLibre and PMTiles vendored in
`api/static/vendor/`). It draws the MapLibre style `/tiles/style.json` (api/tiles.py): the stored road
network as its own basemap, street names as labels drawn by MapLibre without any glyph download,
road condition and the defects. Under that, optionally: a PMTiles file given at `roadscan serve
--basemap FILE.pmtiles` (served here with range requests, read through the pmtiles protocol), or a
MapLibre style URL or a raster tile URL template (`{z}/{x}/{y}`) given as `?basemap=` or in the
`ROADSCAN_MAP_BASEMAP` environment variable.

`/map/summary` is the small JSON the summary panel reads: defects by class and by status for the
same filters as the items (class, status, min_severity, datetime), km of road by condition class,
and the extent of the data.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from roadscan.core.errors import ConfigError
from roadscan.core.classes import CLASS_CODES, CLASSES
from roadscan.api import auth
from roadscan.api.ogc.collections import COLLECTIONS, ItemsQuery
from roadscan.api.ogc.errors import not_found
from roadscan.api.ogc.params import parse_datetime
from roadscan.api.store.database import Store
from roadscan.api.store.map_summary import defects_by_class_and_status, road_length_by_condition
from roadscan.core.statuses import DEFECT_STATUSES, SETTABLE_STATUSES

STATIC = Path(__file__).parent / "static"
BASEMAP_ENV = "ROADSCAN_MAP_BASEMAP"
PMTILES_PATH = "/map/basemap.pmtiles"
PMTILES_MAGIC = b"PMTiles\x03"  # the header of a PMTiles version 3 archive


def pmtiles_file(path: str | Path) -> Path:
    """A PMTiles (version 3) basemap file, checked before the server starts: a missing file or another
    format is a ConfigError naming it."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"basemap {file} is not a file", hint="give a .pmtiles archive (e.g. from pmtiles extract)")
    with open(file, "rb") as f:
        head = f.read(len(PMTILES_MAGIC))
    if head != PMTILES_MAGIC:
        raise ConfigError(f"basemap {file} is not a PMTiles version 3 archive (it starts with {head[:8]!r})",
                          hint="convert it with the pmtiles tool (pmtiles convert FILE.mbtiles FILE.pmtiles)")
    return file

router = APIRouter(tags=["Map"])


def is_basemap_url(value: str) -> bool:
    """An absolute http(s) URL, or a path on this server. Not a protocol-relative `//host/...` (nor
    `/\\host`, which browsers read the same), which would load a style from elsewhere unannounced."""
    if not value.isprintable() or any(c.isspace() for c in value) or "\\" in value:
        return False
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return not parts.scheme and not parts.netloc and value.startswith("/") and not value.startswith("//")


def _basemap(request: Request) -> str | None:
    """The basemap asked for, else the configured one; anything else than `is_basemap_url` is ignored."""
    value = request.query_params.get("basemap") or os.environ.get(BASEMAP_ENV) or None
    return value if value and is_basemap_url(value) else None


@router.get("/map", summary="The map page (MapLibre GL JS): defects and road condition", response_class=HTMLResponse)
def map_page(request: Request,
             basemap: Annotated[str | None, Query(description="an http(s) URL of a MapLibre style or an XYZ raster "
                                                              "tile template, or a path on this server (default: "
                                                              f"${BASEMAP_ENV}, else none); anything else is ignored")]
             = None) -> HTMLResponse:
    pmtiles = PMTILES_PATH if request.app.state.settings.basemap is not None else None
    config = {"basemap": _basemap(request), "pmtiles": pmtiles, "style": "/tiles/style.json",
              "classes": list(CLASS_CODES), "class_names": CLASSES, "statuses": list(DEFECT_STATUSES),
              "settable": [str(st) for st in SETTABLE_STATUSES]}
    html = (STATIC / "map.html").read_text(encoding="utf-8")
    # </ cannot end the script element early: json.dumps escapes nothing of HTML, so do it here
    html = html.replace("{{CONFIG}}", json.dumps(config).replace("</", "<\\/"))
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get(PMTILES_PATH, summary="The PMTiles basemap given at roadscan serve --basemap (range requests)",
            dependencies=[Depends(auth.reader)], response_class=FileResponse,
            responses={206: {"description": "the byte range asked for"}, 404: {"description": "no basemap file"}})
def basemap_pmtiles(request: Request) -> FileResponse:
    file = request.app.state.settings.basemap
    if file is None:
        raise not_found("no PMTiles basemap: start the server with roadscan serve --basemap FILE.pmtiles")
    return FileResponse(file, media_type="application/vnd.pmtiles", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/map/static/{path:path}", summary="The map page's scripts and styles", include_in_schema=False)
def map_static(path: str) -> FileResponse:
    target = (STATIC / path).resolve()
    if STATIC.resolve() not in target.parents or not target.is_file():
        raise not_found(f"no map file '{path}'")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    cache = "public, max-age=86400" if "vendor" in target.parts else "no-cache"
    return FileResponse(target, media_type=media, headers={"Cache-Control": cache})


@router.get("/map/summary", summary="Defects by class and status, km of road by condition class",
            dependencies=[Depends(auth.reader)])
def summary(request: Request,
            class_: Annotated[str | None, Query(alias="class", description="class codes, comma-separated")] = None,
            status: Annotated[str | None, Query(description="statuses, comma-separated")] = None,
            min_severity: Annotated[str | None, Query(description="at least this severity (1-5)")] = None,
            datetime: Annotated[str | None, Query(description="RFC 3339 instant or interval a defect was seen in")] = None,
            ) -> dict[str, Any]:
    store: Store = request.app.state.store
    params = {k: v for k, v in (("class", class_), ("status", status), ("min_severity", min_severity)) if v is not None}
    defects = COLLECTIONS["defects"]
    query = ItemsQuery(interval=parse_datetime(datetime) if datetime else None, params=params)
    by = defects_by_class_and_status(store, defects.query(query))
    by_class: dict[str, dict[str, Any]] = {}
    by_status: dict[str, int] = defaultdict(int)
    for code, name, st, n in by:
        entry = by_class.setdefault(code, {"code": code, "name": name, "count": 0, "by_status": {}})
        entry["count"] += n
        entry["by_status"][st] = n
        by_status[st] += n
    condition = [{"condition": None if k is None else int(k), "label": label, "segments": int(n),
                  "km": round(float(m or 0.0) / 1000.0, 3)} for k, label, n, m in road_length_by_condition(store)]
    extent = defects.extent(store)["spatial"]["bbox"][0]
    if extent == [-180.0, -90.0, 180.0, 90.0]:
        extent = COLLECTIONS["segment_condition"].extent(store)["spatial"]["bbox"][0]
    return {
        "defects": sum(by_status.values()),
        "by_class": [by_class[k] for k in sorted(by_class, key=lambda k: (CLASS_CODES.index(k) if k in CLASS_CODES else 99, k))],
        "by_status": {st: by_status.get(st, 0) for st in DEFECT_STATUSES if st in by_status},
        "condition": condition,
        "road_km": round(sum(x["km"] for x in condition), 3),
        "bbox": extent,
    }
