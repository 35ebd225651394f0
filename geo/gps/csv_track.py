"""GPS logs as CSV: one fix per row, with a header naming the columns.

Columns (names are matched case-insensitively; the delimiter , ; or tab is detected):

    time      required: time, timestamp, datetime, date_time, utc, time_utc, gps_time
              ISO 8601 text ("2024-05-01T10:15:02.5Z", "2024-05-01 12:15:02+02:00"); text without
              an offset is UTC. Or numbers: seconds since 1970-01-01 UTC (values above 1e11 are
              taken as milliseconds, which phone apps write).
    lat       required: lat, latitude            decimal degrees WGS84, north positive
    lon       required: lon, lng, long, longitude  decimal degrees WGS84, east positive
    speed     optional: speed, speed_mps, speed_m_s (m/s), or speed_kmh, speed_kph (km/h)
    heading   optional: heading, heading_deg, course, bearing (degrees clockwise from north)
    accuracy  optional: accuracy, accuracy_m, hacc, horizontal_accuracy (metres)
    altitude  optional: altitude, altitude_m, alt, ele, elevation (metres)

Other columns are ignored. Rows with an unreadable time or position are skipped and counted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from roadscan.core.errors import GPSError
from roadscan.geo.gps.units import KMH_TO_MPS
from roadscan.geo.track import Track

COLUMNS = {
    "time": ("time", "timestamp", "datetime", "date_time", "utc", "time_utc", "gps_time"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "speed_mps": ("speed", "speed_mps", "speed_m_s"),
    "speed_kmh": ("speed_kmh", "speed_kph"),
    "heading_deg": ("heading", "heading_deg", "course", "bearing"),
    "accuracy_m": ("accuracy", "accuracy_m", "hacc", "horizontal_accuracy"),
    "altitude_m": ("altitude", "altitude_m", "alt", "ele", "elevation"),
}
REQUIRED = ("time", "lat", "lon")
HINT = "the CSV needs a header with time, lat and lon columns (see roadscan.geo.gps.csv_track for the names)"


def read_csv_track(path: Path) -> Track:
    path = Path(path)
    try:
        if not path.read_bytes().strip():
            raise GPSError("this CSV file is empty", path=path, hint=HINT)
        table = pd.read_csv(path, sep=None, engine="python", dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError as e:
        raise GPSError("this CSV file is empty", path=path, hint=HINT) from e
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError, ValueError) as e:
        raise GPSError(f"this CSV file cannot be read: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
                       path=path, hint=HINT) from e
    found = {str(c).strip().lower(): c for c in table.columns}
    names = {key: next((found[a] for a in aliases if a in found), None) for key, aliases in COLUMNS.items()}
    missing = [k for k in REQUIRED if names[k] is None]
    if missing:
        have = ", ".join(map(str, table.columns)) or "none"
        raise GPSError(f"this CSV has no {' / '.join(missing)} column (its columns: {have})", path=path,
                       hint="name the columns e.g. time, lat, lon; accepted names: " +
                       "; ".join(f"{k}: {', '.join(COLUMNS[k])}" for k in missing))
    if not len(table):
        raise GPSError("this CSV file has a header but no rows", path=path, hint=HINT)

    fixes = pd.DataFrame({"time": _times(table[names["time"]])})
    for key in ("lat", "lon", "speed_mps", "heading_deg", "accuracy_m", "altitude_m"):
        if names[key] is not None:
            fixes[key] = pd.to_numeric(table[names[key]].str.strip(), errors="coerce")
    if names["speed_mps"] is None and names["speed_kmh"] is not None:
        fixes["speed_mps"] = pd.to_numeric(table[names["speed_kmh"]].str.strip(), errors="coerce") * KMH_TO_MPS
    return Track.from_fixes(fixes, source=path, format="csv")


def _times(raw: pd.Series) -> pd.Series:
    """ISO 8601 text (naive = UTC) or epoch seconds/milliseconds, as UTC; unreadable values NaT."""
    text = raw.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() and numbers.notna().sum() == text.notna().sum():
        scale = 1e-3 if np.nanmedian(numbers.to_numpy(np.float64)) > 1e11 else 1.0
        return pd.to_datetime(numbers * scale, unit="s", utc=True)
    return pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
