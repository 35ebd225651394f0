"""Exports over HTTP: the defects layer (with the same property filters as the items) as a file to
download, GeoPackage (defects plus segment condition, as `roadscan export` writes it) or CSV, in any
CRS the OGC API serves (`crs`, as the items take it; a CRS it does not serve is a 400, never ignored).
Links to each defect's evidence image and map view use the server's public address.

The file is written to a temporary folder, streamed, and removed when the response is done.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from roadscan.api.auth import AUTH_ERRORS, Principal, Reader
from roadscan.api.crs import SUPPORTED, parse_crs
from roadscan.api.exports import _for_file, defects_layer, export, export_crs
from roadscan.api.hosts import base_url
from roadscan.api.ogc.errors import ExceptionBody
from roadscan.api.store.filters import DefectFilter

router = APIRouter(tags=["Data"], responses={**AUTH_ERRORS, 400: {"model": ExceptionBody, "description": "bad parameter"}})


@router.get("/collections/defects/export", summary="Download the defects as GeoPackage or CSV",
            responses={200: {"content": {"application/geopackage+sqlite3": {}, "text/csv": {}},
                             "description": "the file, as an attachment"}})
def export_defects(request: Request,
                   format: Annotated[Literal["gpkg", "csv"], Query(description="gpkg (defects and segment "
                                                                               "condition layers) or csv (defects)")] = "gpkg",
                   bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None,
                   class_: Annotated[str | None, Query(alias="class", description="class codes, comma-separated")] = None,
                   status: Annotated[str | None, Query(description="statuses, comma-separated")] = None,
                   min_severity: Annotated[int | None, Query(ge=1, le=5, description="at least this severity")] = None,
                   road: Annotated[str | None, Query(description="road name contains this")] = None,
                   crs: Annotated[str | None, Query(description="CRS of the file's coordinates (default EPSG:4326; "
                                                                "CSV adds x, y in it beside lat, lon): "
                                                                + ", ".join(SUPPORTED))] = None,
                   _principal: Principal = Reader) -> Response:
    flt = DefectFilter.parse(classes=class_, statuses=status, min_severity=min_severity, road=road, bbox=bbox)
    target = None if crs is None else export_crs(parse_crs(crs).pyproj_name)
    store = request.app.state.store
    public = base_url(request)
    stem = f"roadscan-defects-{datetime.now(timezone.utc):%Y%m%d-%H%M}"
    if format == "csv":
        layer = defects_layer(store, flt, public_url=public)
        table = pd.DataFrame(_for_file(layer).drop(columns="geometry"))
        if target is not None and len(layer):
            projected = layer.geometry.to_crs(target)
            table["x"], table["y"] = projected.x.round(2 if target.is_projected else 7), \
                projected.y.round(2 if target.is_projected else 7)
        return Response(table.to_csv(index=False), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    folder = Path(tempfile.mkdtemp(prefix="roadscan-export-"))
    try:
        (path,) = export(store, "gpkg", folder / stem, flt, crs=target, public_url=public)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(path, media_type="application/geopackage+sqlite3", filename=f"{stem}.gpkg",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
