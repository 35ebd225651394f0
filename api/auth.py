"""Who may use the API: API keys with a role, viewer < crew < admin.

Reads (maps, work lists, images, exports) are public unless the app is created with
`public_reads=False`; every write (status updates, photos) needs a crew or admin key. A key comes in
the `X-API-Key` header or as `Authorization: Bearer <key>`.

Keys are made here (`roadscan keys create`), shown once, and only their SHA-256 is stored. A plain
fast hash is enough because the keys are 256-bit random tokens, not passwords people choose: nobody
can guess or brute-force one from its hash, so the slow, salted hashes that protect low-entropy
passwords (bcrypt, scrypt) would add nothing but a cost per request. It also lets a request find
its key by an indexed lookup of the hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from roadscan.api.ogc.errors import OGCError
from roadscan.api.store.database import Store
from roadscan.api.store.keys import add_key, find_key
from roadscan.core.roles import ROLES
from roadscan.core.errors import ConfigError

KEY_PREFIX = "rsk_"
RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """The caller: the key's name and role, or an anonymous reader when reads are public."""

    name: str
    role: str | None  # None: anonymous
    key_id: int | None = None

    def can(self, role: str) -> bool:
        return self.role is not None and RANK[self.role] >= RANK[role]


ANONYMOUS = Principal("anonymous", None)


class AuthError(OGCError):
    """401 (no valid key) or 403 (a valid key whose role may not do this), with the OGC body."""

    def __init__(self, status: int, description: str):
        super().__init__(status, "Unauthorized" if status == 401 else "Forbidden", description)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --- making keys (`roadscan keys create`; the store lists and revokes them) -----------------------

def create_key(store: Store, name: str, role: str) -> tuple[int, str]:
    """A new key for `name` with `role`; returns (id, key). The key is not stored and cannot be shown again."""
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'", hint=f"use one of {', '.join(ROLES)}")
    name = name.strip()
    if not name or name.isdigit():
        raise ConfigError(f"'{name}' is not a usable key name", hint="name it after the person or crew, e.g. crew-north")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return add_key(store, name=name, role=role, key_hash=hash_key(key), prefix=key[:len(KEY_PREFIX) + 4]), key


# --- checking requests ---------------------------------------------------------------------------

def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _principal(request: Request) -> Principal | None:
    """The key's owner; None when no key was sent. A key that is wrong or revoked is refused (401)."""
    key = _presented_key(request)
    if key is None:
        return None
    row = find_key(request.app.state.store, hash_key(key))
    if row is None:
        raise AuthError(401, "the API key is not valid; ask an administrator for one (roadscan keys create)")
    if row.revoked_at is not None:
        raise AuthError(401, "the API key was revoked; ask an administrator for a new one")
    return Principal(row.name, row.role, row.id)


def reader(request: Request) -> Principal:
    """Dependency for reads: anyone when reads are public (a key sent must still be valid), else a key."""
    principal = _principal(request)
    if principal is not None:
        return principal
    if request.app.state.settings.public_reads:
        return ANONYMOUS
    raise AuthError(401, "this API needs an API key: send it in the X-API-Key header "
                         "or as Authorization: Bearer <key>")


def requires(role: str):
    """Dependency for writes: a valid key whose role is at least `role`."""

    def check(request: Request) -> Principal:
        principal = _principal(request)
        if principal is None:
            raise AuthError(401, f"changing data needs an API key with the {role} role: send it in the X-API-Key "
                                 "header or as Authorization: Bearer <key>")
        if not principal.can(role):
            raise AuthError(403, f"the key '{principal.name}' has the {principal.role} role; "
                                 f"this needs {role} or higher")
        return principal

    return check


WRITE_ROLE = "crew"  # every write (status updates, photos) needs at least this role
writer = requires(WRITE_ROLE)  # also called before a write's body is read (api/request_body.py)
Reader = Depends(reader)
Crew = Depends(writer)

AUTH_ERRORS = {401: {"description": "no valid API key"}, 403: {"description": "the key's role may not do this"}}


def install(app: FastAPI) -> None:
    """Answer auth errors with the OGC body plus the WWW-Authenticate header a 401 calls for."""

    @app.exception_handler(AuthError)
    async def _auth(_request: Request, exc: AuthError):
        return error_response(exc)


def error_response(exc: AuthError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The OGC body, with the WWW-Authenticate header a 401 calls for."""
    headers = {**({"WWW-Authenticate": 'Bearer realm="roadscan"'} if exc.status == 401 else {}), **(headers or {})}
    return JSONResponse({"code": exc.code, "description": exc.description}, status_code=exc.status, headers=headers)
