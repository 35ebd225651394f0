"""Exports over HTTP: the defects layer (with the same property filters as the items) as a file to
download, GeoPackage (defects plus segment condition, as `roadscan export` writes it) or CSV.

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
from roadscan.api.exports import _for_file, defects_layer, export
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
                   _principal: Principal = Reader) -> Response:
    flt = DefectFilter.parse(classes=class_, statuses=status, min_severity=min_severity, road=road, bbox=bbox)
    store = request.app.state.store
    stem = f"roadscan-defects-{datetime.now(timezone.utc):%Y%m%d-%H%M}"
    if format == "csv":
        table = pd.DataFrame(_for_file(defects_layer(store, flt)).drop(columns="geometry"))
        return Response(table.to_csv(index=False), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
    folder = Path(tempfile.mkdtemp(prefix="roadscan-export-"))
    try:
        (path,) = export(store, "gpkg", folder / stem, flt)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(path, media_type="application/geopackage+sqlite3", filename=f"{stem}.gpkg",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
