"""Security headers on every response, errors included.

`nosniff` keeps a browser from running a served file as another type than declared; frame-ancestors
(CSP) and X-Frame-Options keep other sites from framing the map or the API pages (clickjacking); the
referrer policy sends other sites (a basemap's tile server) only this server's origin, never the
page's path and query.
"""

from __future__ import annotations

SECURITY_HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"content-security-policy": b"frame-ancestors 'none'",
    b"referrer-policy": b"strict-origin-when-cross-origin",
}


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to each response that does not set them itself."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in SECURITY_HEADERS.items() if k not in present)]}
            await send(message)

        await self.app(scope, receive, add_headers)
