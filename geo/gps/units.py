"""Units and clocks the GPS readers share, so every format converts them the same way."""

from __future__ import annotations

from datetime import datetime, timezone

KNOTS_TO_MPS = 1852.0 / 3600.0
KMH_TO_MPS = 1000.0 / 3600.0
MPH_TO_MPS = 1609.344 / 3600.0
# Horizontal accuracy of a consumer receiver is roughly HDOP times the user-equivalent range error
# (about 5 m for single-frequency GPS without corrections). Only an estimate, but it ranks fixes.
UERE_M = 5.0
# Cameras and loggers with an unset clock write 1904, 1970 or 1980-01-06 (the GPS epoch).
EARLIEST_CLOCK = datetime(1980, 1, 7, tzinfo=timezone.utc)


def dop_to_accuracy(dop) -> float:
    """Approximate horizontal accuracy in metres from a dilution of precision (NaN if unknown)."""
    try:
        value = float(dop)
    except (TypeError, ValueError):
        return float("nan")
    return value * UERE_M if value > 0 else float("nan")


def as_utc(t: datetime | None) -> datetime | None:
    """An aware UTC datetime; naive times are taken to be UTC already; unset clocks become None."""
    if t is None:
        return None
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    return t if t >= EARLIEST_CLOCK else None
