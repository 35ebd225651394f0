"""GPX tracks and routes (gpxpy): the points of every track segment and route that carry a time.

Speed and heading come from the point itself (GPX 1.0 <speed>/<course>) or from extensions that
loggers write (Garmin TrackPointExtension v2 <gpxtpx:speed>/<gpxtpx:course>, OsmAnd <speed>,
<heading>/<bearing>), speed in m/s as those schemas define it. HDOP gives an accuracy estimate.
Waypoints are not part of a drive and are ignored.
"""

from __future__ import annotations

from pathlib import Path

import gpxpy
import gpxpy.gpx
import pandas as pd

from roadscan.core.errors import GPSError
from roadscan.geo.gps.units import as_utc, dop_to_accuracy
from roadscan.geo.track import Track

SPEED_TAGS = {"speed"}
HEADING_TAGS = {"course", "heading", "bearing"}
HINT = "export the recorded track from the logger or app as GPX 1.0/1.1 (a track with times)"


def read_gpx(path: Path) -> Track:
    path = Path(path)
    try:
        gpx = gpxpy.parse(path.read_bytes())
    except gpxpy.gpx.GPXXMLSyntaxException as e:
        raise GPSError(f"this GPX file is not well-formed XML: {_first_line(e)}", path=path, hint=HINT) from e
    except (gpxpy.gpx.GPXException, ValueError) as e:  # ValueError: not UTF-8, bad numbers
        raise GPSError(f"this GPX file cannot be read: {_first_line(e)}", path=path, hint=HINT) from e

    points = [p for t in gpx.tracks for s in t.segments for p in s.points]
    points += [p for r in gpx.routes for p in r.points]
    if not points:
        extra = f" (only {len(gpx.waypoints)} waypoints)" if gpx.waypoints else ""
        raise GPSError(f"this GPX file holds no track or route points{extra}", path=path, hint=HINT)
    rows = [_row(p) for p in points]
    untimed = sum(r["time"] is None for r in rows)
    if untimed == len(rows):
        raise GPSError(f"none of the {len(rows)} GPX points has a time (a planned route, not a recorded track?)",
                       path=path, hint="roadscan matches frames to positions by time; " + HINT)
    fixes = pd.DataFrame(rows)
    fixes["time"] = pd.to_datetime(fixes["time"], utc=True)
    return Track.from_fixes(fixes, source=path, format="gpx")


def _row(p) -> dict:
    speed, heading = getattr(p, "speed", None), getattr(p, "course", None)
    for ext in p.extensions or ():
        for el in ext.iter():
            name = el.tag.rsplit("}", 1)[-1].lower()
            if speed is None and name in SPEED_TAGS:
                speed = _number(el.text)
            elif heading is None and name in HEADING_TAGS:
                heading = _number(el.text)
    return {"time": as_utc(p.time), "lat": p.latitude, "lon": p.longitude, "altitude_m": p.elevation,
            "speed_mps": speed, "heading_deg": heading, "accuracy_m": dop_to_accuracy(p.horizontal_dilution)}


def _number(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
