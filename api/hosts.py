"""Which host names the server answers to, and the address its links are built from.

Links in responses (self, next, items, photo hrefs) need the server's public address. Taken from
the request's Host header, a client could make the server hand out links to any host it names
(issue 15); a web page could also reach a server on 127.0.0.1 through a name it rebinds. So:
`base_url` (`roadscan serve --base-url` or its other name `--public-url`, ROADSCAN_BASE_URL), when set,
is the only address links use (photos, map views, work-list GPX, exports' image_url and map_url); and requests whose Host is not a trusted name are refused (400). The trusted names are the
base URL's host and the loopback names, plus any in ROADSCAN_TRUSTED_HOSTS (comma-separated;
`*.example.org` for subdomains, `*` for any).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse

from roadscan.core.errors import ConfigError

BASE_URL_ENV, TRUSTED_HOSTS_ENV = "ROADSCAN_BASE_URL", "ROADSCAN_TRUSTED_HOSTS"
# the names a server on this machine is reached by; "testserver" is what Starlette's TestClient sends
LOOPBACK = ("localhost", "127.0.0.1", "::1", "testserver")


def parse_base_url(text: str | None) -> str | None:
    """The configured public base URL, without a trailing slash; None when not configured."""
    if not text:
        return None
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"base URL '{text}' must be an http(s) address such as https://roads.example.org "
                          "or http://10.0.0.5:8000/roadscan (no query or fragment)")
    return text.strip().rstrip("/")


def trusted_hosts(base_url: str | None, extra: str | None = None) -> tuple[str, ...]:
    """The host names requests may name: loopback, the base URL's host and the extra ones (comma-separated)."""
    names = list(LOOPBACK)
    if base_url:
        names.append(urlsplit(base_url).hostname or "")
    names += [n.strip().lower() for n in (extra or "").split(",") if n.strip()]
    return tuple(dict.fromkeys(names))


def from_env() -> tuple[str | None, tuple[str, ...]]:
    """(base URL, trusted hosts) as the environment configures them."""
    base = parse_base_url(os.environ.get(BASE_URL_ENV))
    return base, trusted_hosts(base, os.environ.get(TRUSTED_HOSTS_ENV))


def host_name(header: str) -> str:
    """The name in a Host header, without its port: 'example.org:8000' -> 'example.org', '[::1]:80' -> '::1';
    '' for a header that is not a host and an optional port."""
    header = header.strip().lower()
    if header.startswith("["):
        name, _, rest = header[1:].partition("]")
    else:
        name, _, port = header.partition(":")
        rest = f":{port}" if _ else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return ""
    return name if name and all(c.isalnum() or c in "-._:" for c in name) else ""


def _trusted(name: str, allowed: tuple[str, ...]) -> bool:
    return bool(name) and any(a == "*" or a == name or (a.startswith("*.") and name.endswith(a[1:])) for a in allowed)


class TrustedHosts:
    """ASGI middleware: 400 for a request whose Host header names a host not in `allowed`."""

    def __init__(self, app, *, allowed: tuple[str, ...]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if not _trusted(host_name(header), self.allowed):
                shown = header if header.isprintable() and len(header) <= 100 else repr(header[:100])
                response = JSONResponse({"code": "InvalidParameterValue", "description":
                                         f"Host '{shown}' is not a name this server answers to; its operator can "
                                         f"start it with --base-url http(s)://NAME[:PORT] or add NAME to "
                                         f"{TRUSTED_HOSTS_ENV}"}, status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def base_url(request: Request) -> str:
    """The address links start with: the configured base URL, else the one the (trusted) request used."""
    return request.app.state.settings.base_url or str(request.base_url).rstrip("/")
