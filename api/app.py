"""The web API: one FastAPI app over one store, serving OGC API Features to GIS tools and browsers.

Nothing here imports the detector or the pipeline, so a GIS server runs it without torch.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from roadscan.api.ogc import errors, routes
from roadscan.api.openapi import openapi_30
from roadscan.api.store.database import Store, open_store
from roadscan.errors import StoreError


def create_app(db: str | Path | Store) -> FastAPI:
    """The API over a store: an open `Store`, or a SQLite file / database URL to open (and close).

    A file path must already exist: serving a store that was never processed would silently create
    an empty one.
    """
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

    app = FastAPI(title="roadscan", version=_version(), lifespan=lifespan,
                  description="Road defects, road segment condition and surveys as OGC API Features "
                              "(Part 1 Core, GeoJSON, HTML; Part 2 CRS).")
    app.state.store = store
    errors.install(app)
    app.include_router(routes.router)
    app.openapi = lambda: openapi_30(app)  # OpenAPI 3.0, as OGC API Features clients expect
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roadscan")
    except PackageNotFoundError:
        return "0+unknown"
