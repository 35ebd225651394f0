"""What one request may ask of the server: every limit in one place, each with a safe default.

A limit keeps a single request from taking the server down or holding it for long: a filter nested
so deep that the parser overflows its stack, a photo whose pixels need gigabytes to decode, a body
streamed without end. `create_app(limits=...)` takes them; `Limits.from_env()` (what `roadscan
serve` uses) reads an override of any field from `ROADSCAN_<FIELD>`, e.g. `ROADSCAN_MAX_IMAGE_PIXELS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

from roadscan.core.errors import ConfigError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # CQL2 filters (text or JSON), checked before any parser sees them. The HTTP server refuses a
    # request head over 16 KiB anyway; a 1,000-vertex polygon literal is about 20 characters a vertex.
    max_filter_chars: int = 16_000
    # Parentheses open at once, plus NOTs and signs pending there (JSON: three brackets a level). The
    # cql2 parser crashed the process at 1,600 levels (issue 15), and a parse that fails inside n
    # parentheses takes about 2^n steps: 10 is a few milliseconds, 20 was 13 s.
    max_filter_depth: int = 10
    max_parse_seconds: int = 2  # a parse still running then is stopped (its child process killed): 400
    # Operations (comparisons, AND, OR, NOT, functions) in one filter: SQLite refuses an expression
    # tree deeper than 1,000, and a long OR chain is that deep.
    max_filter_terms: int = 256
    # Uploaded photos: the encoded size, and the pixels, read from the header before anything is
    # decoded. Masking faces and plates needs about 165 bytes a pixel (24 MP: 3.9 GB, 13 s here).
    max_photo_bytes: int = 8 * MiB
    max_image_pixels: int = 24_000_000
    photo_workers: int = 1  # photos masked at once; more wait their turn
    # Any other request body (a status update is a few hundred bytes).
    max_body_bytes: int = 64 * 1024
    # A refused body up to this size is read and dropped, so the client gets the answer rather than a
    # reset connection; beyond it the server answers and closes the connection.
    drain_bytes: int = 16 * MiB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"limit {f.name} = {value!r} must be a whole number of at least 1")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """The defaults, with any field overridden by ROADSCAN_<FIELD> (upper case)."""
        environ = os.environ if environ is None else environ
        changes = {}
        for f in fields(cls):
            name = f"ROADSCAN_{f.name.upper()}"
            if name in environ:
                text = environ[name].replace("_", "")
                if not text.isdigit():
                    raise ConfigError(f"{name}={environ[name]!r} is not a whole number")
                changes[f.name] = int(text)
        return replace(cls(), **changes)
