"""Every error the API answers with is an OGC exception body, `{"code": ..., "description": ...}`.

Bad input is the client's to fix, so it gets a 4xx that says what was wrong; a 500 means a bug here.
Either way the answer is a complete response and the keep-alive connection stays usable: Starlette
re-raises an unhandled error after its 500, and uvicorn then closes the connection, so unhandled
errors are answered by `ServerErrors` instead, which does not re-raise.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from roadscan.api.store.busy import RETRY_AFTER_S, StoreBusy
from roadscan.core.errors import RoadscanError

log = logging.getLogger("roadscan.api")


class ExceptionBody(BaseModel):
    """The OGC API exception body (OGC 17-069r4, 7.5.1)."""

    code: str
    description: str


class OGCError(Exception):
    """A request the API refuses, with the HTTP status and the OGC exception code to answer with."""

    def __init__(self, status: int, code: str, description: str):
        self.status, self.code, self.description = status, code, description
        super().__init__(description)


def bad_request(description: str) -> OGCError:
    return OGCError(400, "InvalidParameterValue", description)


def not_found(description: str) -> OGCError:
    return OGCError(404, "NotFound", description)


def _body(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"code": code, "description": description}, status_code=status)


def install(app: FastAPI) -> None:
    """Answer OGC errors, validation errors, unknown routes and user errors with the OGC body."""

    @app.exception_handler(OGCError)
    async def _ogc(_request: Request, exc: OGCError):
        return _body(exc.status, exc.code, exc.description)

    @app.exception_handler(RoadscanError)
    async def _user(_request: Request, exc: RoadscanError):
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return _body(400, "InvalidParameterValue", text)

    @app.exception_handler(StoreBusy)
    async def _busy(_request: Request, exc: StoreBusy):
        response = _body(503, "ServiceUnavailable", f"{exc}; try again in {RETRY_AFTER_S} s")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ())[1:]) or "request"
            parts.append(f"{where}: {err.get('msg')}" + (f" (got {err['input']!r})" if "input" in err else ""))
        return _body(400, "InvalidParameterValue", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        code = {404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable",
                413: "PayloadTooLarge"}.get(exc.status_code, "HTTPError")
        description = exc.detail if exc.status_code != 404 else "no such resource; start at / for the links"
        response = _body(exc.status_code, code, str(description))
        response.headers.update(exc.headers or {})  # e.g. Allow on 405
        return response



class ServerErrors:
    """ASGI middleware: an unhandled error becomes a 500 with the OGC body, logged, and is not re-raised,
    so the server keeps the client's connection open (a client pool then sees one failed request, not a
    dropped connection)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:  # half a response went out: nothing to answer, the server closes the connection
                raise
            log.exception("unhandled error")
            response = _body(500, "ServerError", f"internal error ({type(exc).__name__}); this is a bug in roadscan")
            await response(scope, receive, send)
