"""The web API: one FastAPI app over one store, serving OGC API Features to GIS tools and browsers.

Nothing here imports the detector or the pipeline, so a GIS server runs it without torch.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from roadscan.api import auth, downloads, hosts, images, map_page, status, tiles, worklists
from roadscan.api.headers import SecurityHeaders
from roadscan.api.limits import Limits
from roadscan.api.ogc import errors, routes
from roadscan.api.ogc.cql2_guard import PARSERS
from roadscan.api.request_body import BodyGuard
from roadscan.api.openapi import install_docs, openapi_30
from roadscan.api.store.database import Store, open_store


@dataclass(frozen=True)
class Settings:
    public_reads: bool = True  # False: every request needs an API key (viewer or higher)
    limits: Limits = field(default_factory=Limits)
    districts: dict[str, Any] = field(default_factory=dict)  # name -> EPSG:4326 polygon, for work lists
    photo_masker: status.PhotoMasker | None = None  # None: photo uploads are refused (503)
    base_url: str | None = None  # the public address links use; None: the address the request used
    basemap: Path | None = None  # a PMTiles file the map page draws under the roads (/map/basemap.pmtiles)


def create_app(db: str | Path | Store, *, public_reads: bool = True, districts: str | Path | None = None,
               photo_masker: status.PhotoMasker | None = None, limits: Limits | None = None,
               base_url: str | None = None, trusted_hosts: tuple[str, ...] | None = None,
               basemap: str | Path | None = None) -> FastAPI:
    """The API over a store: an open `Store`, or a SQLite file / database URL to open (and close).

    A file path must already exist: serving a store that was never processed would silently create
    an empty one. Reads are open to anyone unless `public_reads` is False; writes always need a crew
    or admin API key (`roadscan keys create`). `districts` is a polygon file with a `name` column
    whose names work lists accept as `district=`. `photo_masker` masks faces and number plates in
    uploaded photos (`roadscan serve` passes the detector's); without one, uploads are refused.
    `limits` (api/limits.py), `base_url` and `trusted_hosts` (api/hosts.py) default to what the
    ROADSCAN_* environment variables say, and to safe values without them. `basemap` is a PMTiles file
    the map page draws under its layers (api/map_page.py).
    """
    env_base, env_hosts = hosts.from_env()
    base = hosts.parse_base_url(base_url) or env_base
    settings = Settings(public_reads=public_reads, limits=limits or Limits.from_env(),
                        districts=worklists.read_districts(districts) if districts is not None else {},
                        photo_masker=photo_masker, base_url=base,
                        basemap=map_page.pmtiles_file(basemap) if basemap is not None else None)
    allowed = trusted_hosts if trusted_hosts is not None else hosts.trusted_hosts(base) + env_hosts
    if isinstance(db, Store):
        store, owned = db, False
    else:
        store, owned = open_store(db, create=False), True  # "no store here" rather than serve an empty new one

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        PARSERS.warm()  # the CQL2 parser's child processes (api/ogc/cql2_guard.py)
        yield
        if owned:
            store.close()

    app = FastAPI(title="roadscan", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Road defects, road segment condition and surveys as OGC API Features "
                              "(Part 1 Core, GeoJSON, HTML; Part 2 CRS; Part 3 CQL2 filtering).")
    app.state.store = store
    app.state.settings = settings
    app.state.photo_slots = threading.BoundedSemaphore(settings.limits.photo_workers)
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
    # outermost last: headers on every answer, then the host check, then 500s that keep the connection
    app.add_middleware(BodyGuard, api=app, limits=settings.limits,
                       large={status.PHOTO_UPLOAD: settings.limits.max_photo_bytes})
    app.add_middleware(errors.ServerErrors)
    app.add_middleware(hosts.TrustedHosts, allowed=tuple(dict.fromkeys(allowed)))
    app.add_middleware(SecurityHeaders)
    app.openapi = lambda: openapi_30(app)  # OpenAPI 3.0, as OGC API Features clients expect
    install_docs(app)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roadscan")
    except PackageNotFoundError:
        return "0+unknown"
