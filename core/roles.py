"""Who may do what with the API: the roles of API keys, each allowed what the ones before it may."""

from __future__ import annotations

ROLES: tuple[str, ...] = ("viewer", "crew", "admin")  # read; + status updates and photos; + keys
