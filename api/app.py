"""The web API: one FastAPI app over one store, serving OGC API Features to GIS tools and browsers.

Nothing here imports the detector or the pipeline, so a GIS server runs it without torch.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from roadscan.api import auth, downloads, images, map_page, status, tiles, worklists
from roadscan.api.ogc import errors, routes
from roadscan.api.openapi import install_docs, openapi_30
from roadscan.api.store.database import Store, open_store
from roadscan.core.errors import StoreError


MAX_PHOTO_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    public_reads: bool = True  # False: every request needs an API key (viewer or higher)
    max_photo_bytes: int = MAX_PHOTO_BYTES
    districts: dict[str, Any] = field(default_factory=dict)  # name -> EPSG:4326 polygon, for work lists
    photo_masker: status.PhotoMasker | None = None  # None: photo uploads are refused (503)


def create_app(db: str | Path | Store, *, public_reads: bool = True, districts: str | Path | None = None,
               max_photo_bytes: int = MAX_PHOTO_BYTES, photo_masker: status.PhotoMasker | None = None) -> FastAPI:
    """The API over a store: an open `Store`, or a SQLite file / database URL to open (and close).

    A file path must already exist: serving a store that was never processed would silently create
    an empty one. Reads are open to anyone unless `public_reads` is False; writes always need a crew
    or admin API key (`roadscan keys create`). `districts` is a polygon file with a `name` column
    whose names work lists accept as `district=`. `photo_masker` masks faces and number plates in
    uploaded photos (`roadscan serve` passes the detector's); without one, uploads are refused.
    """
    settings = Settings(public_reads=public_reads, max_photo_bytes=max_photo_bytes,
                        districts=worklists.read_districts(districts) if districts is not None else {},
                        photo_masker=photo_masker)
    if isinstance(db, Store):
        store, owned = db, False
    else:
        if "://" not in str(db) and not Path(db).expanduser().is_file():
            raise StoreError("no store here", path=db, hint="process a survey into it first (roadscan process ... --db)")
        store, owned = open_store(db), True

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if owned:
            store.close()

    app = FastAPI(title="roadscan", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Road defects, road segment condition and surveys as OGC API Features "
                              "(Part 1 Core, GeoJSON, HTML; Part 2 CRS; Part 3 CQL2 filtering).")
    app.state.store = store
    app.state.settings = settings
    errors.install(app)
    auth.install(app)
    read_access = [Depends(auth.reader)]
    app.include_router(downloads.router)  # before the OGC routes: /collections/defects/export is not a collection
    app.include_router(routes.router, dependencies=read_access)
    app.include_router(worklists.router)
    app.include_router(status.router)
    app.include_router(images.router)
    app.include_router(tiles.router)
    app.include_router(map_page.router)
    app.add_middleware(status.UploadLimit, limit=settings.max_photo_bytes)
    app.openapi = lambda: openapi_30(app)  # OpenAPI 3.0, as OGC API Features clients expect
    install_docs(app)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roadscan")
    except PackageNotFoundError:
        return "0+unknown"
