"""The ranges of values the store can compare with its columns.

Integers are 64-bit in SQLite and PostgreSQL, and times are UTC datetimes (years 1 to 9999): a
request value outside them fails in the driver, which would be a 500. The API checks values here
first and answers a 400 that says the range instead.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64_RANGE = f"{INT64_MIN} to {INT64_MAX}"
TIME_RANGE = "the years 0001 to 9999 in UTC"


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def utc(value: datetime) -> datetime:
    """A timezone-aware datetime in UTC; ValueError when UTC has no such time (beyond 9999, before 0001)."""
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} lies outside {TIME_RANGE}") from None


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first and the last microsecond of a UTC day (no 'next midnight', which 9999-12-31 lacks)."""
    return datetime.combine(day, time.min, timezone.utc), datetime.combine(day, time.max, timezone.utc)
