"""API keys as stored: a name, a role, a SHA-256 of the key and when it was made and revoked.

The key itself is never stored (api/auth.py makes keys and hashes them); a request finds its key
by an indexed lookup of the hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from roadscan.api.store.database import Store
from roadscan.api.store.schema import api_keys
from roadscan.core.errors import ConfigError

__all__ = ["StoredKey", "add_key", "find_key", "list_keys", "revoke_key"]


@dataclass(frozen=True)
class StoredKey:
    id: int
    name: str
    role: str
    revoked_at: datetime | None


def add_key(store: Store, *, name: str, role: str, key_hash: str, prefix: str) -> int:
    """Store a new key's hash; returns its id. A name in use (revoked keys keep theirs) is refused."""
    try:
        with store.engine.begin() as conn:
            key_id = conn.execute(api_keys.insert().values(
                name=name, role=role, key_hash=key_hash, prefix=prefix,
                created_at=datetime.now(timezone.utc))).inserted_primary_key[0]
    except IntegrityError:
        raise ConfigError(f"a key named '{name}' exists already",
                          hint="choose another name (a revoked key keeps its name, so history stays unambiguous)") from None
    return int(key_id)


def find_key(store: Store, key_hash: str) -> StoredKey | None:
    """The key with this hash, revoked or not; None when there is none."""
    with store.engine.connect() as conn:
        row = conn.execute(select(api_keys.c.id, api_keys.c.name, api_keys.c.role, api_keys.c.revoked_at)
                           .where(api_keys.c.key_hash == key_hash)).first()
    return None if row is None else StoredKey(row.id, row.name, row.role, row.revoked_at)


def revoke_key(store: Store, name_or_id: str) -> dict:
    """Revoke a key by its name or id; returns its row. Revoking twice is an error that says so."""
    column = api_keys.c.id if str(name_or_id).isdigit() else api_keys.c.name
    value = int(name_or_id) if str(name_or_id).isdigit() else name_or_id
    with store.engine.begin() as conn:
        row = conn.execute(select(api_keys).where(column == value)).mappings().first()
        if row is None:
            raise ConfigError(f"no API key named or numbered '{name_or_id}'", hint="roadscan keys list shows them")
        if row["revoked_at"] is not None:
            raise ConfigError(f"key '{row['name']}' was revoked already, at {row['revoked_at']:%Y-%m-%d %H:%M} UTC")
        conn.execute(update(api_keys).where(api_keys.c.id == row["id"]).values(revoked_at=datetime.now(timezone.utc)))
    return dict(row)


def list_keys(store: Store) -> list[dict]:
    """Every key, oldest first, without its hash."""
    cols = [c for c in api_keys.c if c.name != "key_hash"]
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(*cols).order_by(api_keys.c.id)).mappings()]
