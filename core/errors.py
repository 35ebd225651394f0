"""The one family of errors a user can cause and fix.

Every package (detector, geo, api, the glue) raises these for bad input, so that the command line can
print the message without a traceback and exit non-zero. Anything else escaping is a bug in roadscan.
This module imports nothing of the project, so every layer may depend on it.
"""

from __future__ import annotations

from pathlib import Path


class RoadscanError(Exception):
    """A problem with the user's input or setup, with the file it concerns and what to do about it."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.message = message
        # a URL (postgresql://host/db) stays text: a Path would collapse its //
        self.path = None if path is None else path if "://" in str(path) else Path(path)
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class FootageError(RoadscanError):
    """Video or image frames that cannot be read."""


class GPSError(RoadscanError):
    """A GPS source that is missing, malformed or does not fit the footage."""


class ConfigError(RoadscanError):
    """A configuration value, camera profile or option that is wrong."""


class ModelError(RoadscanError):
    """Detector weights that cannot be loaded or used."""


class StoreError(RoadscanError):
    """A database that cannot be opened, written or migrated."""


class DatasetError(RoadscanError):
    """Training or evaluation data that cannot be read."""


class RoadNetworkError(RoadscanError):
    """A road network file that cannot be read, has no usable lines, or lies elsewhere than the survey."""
