"""Request bodies: a write is authenticated before its body is read, and every body is counted while it
streams.

FastAPI reads (and python-multipart spools to disk) a whole form before any dependency runs, so a
photo upload without a key was written to /tmp in full before its 401, and a chunked body, which
declares no length, in any size (issue 15). `BodyGuard` sits in front of the write operations: it
checks the key first, refuses a declared length over the operation's limit, and counts the bytes
as they arrive, answering 413 as soon as they pass it. The answer goes out at once; whatever of the
body is left is then read and dropped (never stored) up to `Limits.drain_bytes`, so that a client
still sending sees the answer and, for a body of known, small length, can reuse the connection; a
longer or chunked rest is cut off by closing the connection.
"""

from __future__ import annotations

from anyio import to_thread
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import compile_path

from roadscan.api import auth
from roadscan.api.limits import Limits

BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORM_SLACK = 64 * 1024  # a form's boundaries, part headers and small fields, on top of its file


class BodyTooLarge(HTTPException):
    """413, raised from the counted `receive` while the route reads the body (FastAPI passes HTTP errors on)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than {limit / 1_000_000:.3g} MB; send a smaller one")


class BodyGuard:
    """ASGI middleware over the FastAPI app `api`: authentication before the body, and body size limits.

    `large`: declared paths of operations (e.g. /defects/{defect_id}/photos) that take a file larger
    than `limits.max_body_bytes`, with the file's limit (the form around it may add FORM_SLACK).
    """

    def __init__(self, app, *, api, limits: Limits, large: dict[str, int]):
        self.app, self.api, self.limits, self.large = app, api, limits, large
        self._writes: list[tuple[str, object, str]] | None = None

    def _operation(self, method: str, path: str) -> str | None:
        """The declared path of the write operation a request is for; None when there is none (the router
        answers 404 or 405 without reading the body). The operations are the API definition's."""
        if self._writes is None:
            self._writes = [(m.upper(), compile_path(template)[0], template)
                            for template, operations in self.api.openapi()["paths"].items()
                            for m in operations if m.upper() in BODY_METHODS]
        return next((template for m, regex, template in self._writes if m == method and regex.match(path)), None)

    async def __call__(self, scope, receive, send):
        operation = self._operation(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if operation is None:
            await self.app(scope, receive, send)
            return
        limit = self.large.get(operation, self.limits.max_body_bytes)
        body = _Body(receive, allowed=limit + FORM_SLACK if operation in self.large else limit, limit=limit,
                     drain=self.limits.drain_bytes)
        request = Request(scope)
        answer = None
        try:
            await to_thread.run_sync(auth.writer, request)
        except auth.AuthError as exc:
            answer = auth.error_response(exc)
        length = request.headers.get("content-length", "")
        if answer is None and length.isdigit() and int(length) > body.allowed:
            answer = JSONResponse({"code": "PayloadTooLarge", "description": BodyTooLarge(limit).detail},
                                  status_code=413)
        if answer is not None:
            await answer(scope, body.receive, body.finishing(send, request.headers))
        else:
            await self.app(scope, body.receive, body.finishing(send, request.headers))


class _Body:
    """One request's body as the guard sees it: how much came, whether it ended."""

    def __init__(self, receive, *, allowed: int, limit: int, drain: int):
        self._receive, self.allowed, self.limit, self.drain = receive, allowed, limit, drain
        self.seen, self.ended, self.received_any = 0, False, False

    async def _next(self):
        message = await self._receive()
        self.received_any = True
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            self.ended = not message.get("more_body", False)
        else:  # the client went away
            self.ended = True
        return message

    async def receive(self):
        """The next part of the body for the route; 413 once more than allowed has come."""
        if self.ended:
            return await self._receive()
        message = await self._next()
        if self.seen > self.allowed:
            raise BodyTooLarge(self.limit)
        return message

    def finishing(self, send, headers):
        """`send`, for an answer given before the body was read to its end (a 401, a 413, a 400 from the
        form parser): the answer goes out at once, and then what is left of the body is read and dropped,
        up to the drain limit, before the response completes. When the rest may be longer than that
        (a chunked body, or a declared length over it) the answer says Connection: close. A client
        waiting for 100 Continue has sent nothing: it gets the answer and no invitation to send."""
        length = headers.get("content-length", "")
        drainable = length.isdigit() and int(length) <= self.drain
        waiting = headers.get("expect", "").lower() == "100-continue"

        async def finish(message):
            if self.ended:
                await send(message)
            elif message["type"] == "http.response.start":
                if not drainable or (waiting and not self.received_any):
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
                await send(message)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await send({**message, "more_body": True})  # the whole answer is on its way
                if not (waiting and not self.received_any):
                    while not self.ended and self.seen <= self.drain:
                        await self._next()
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send(message)

        return finish
