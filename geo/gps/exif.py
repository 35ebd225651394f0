"""GPS in the EXIF of JPEG frames (Pillow): one fix per image.

Read from the GPSInfo IFD: position (GPSLatitude/Ref, GPSLongitude/Ref), altitude (GPSAltitude,
GPSAltitudeRef 1 = below sea level), speed (GPSSpeed in GPSSpeedRef K km/h, M mph, N knots -> m/s),
heading (GPSTrack, the direction of travel; GPSImgDirection, where the camera points, only when
there is no GPSTrack; a magnetic reference "M" is used as is, declination is a few degrees), accuracy (GPSHPositioningError in metres, else GPSDOP times a typical range
error).

Time of a fix, explicitly:
1. GPSDateStamp + GPSTimeStamp: UTC from the satellites, the best clock there is;
2. else DateTimeOriginal (+ SubSecTimeOriginal), at OffsetTimeOriginal when the camera wrote one,
   otherwise taken as UTC (many cameras keep local time there: give --time-offset if so).

A folder of JPEGs becomes a track of its images' fixes (images without GPS are counted and skipped).
Its `video_start` puts the frames on the GPS clock: the footage reader times frames by
DateTimeOriginal, so the track reports where that camera clock's first frame lies in UTC (earliest
DateTimeOriginal plus the median of GPS time minus camera time over the images that have both).
That way frames and fixes pair up even when the camera clock is off by hours or seconds.
A single photo gives a one-fix track (`read_exif_fix` returns the fix itself).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from roadscan.core.errors import GPSError
from roadscan.geo.gps.units import KMH_TO_MPS, KNOTS_TO_MPS, MPH_TO_MPS, as_utc, dop_to_accuracy
from roadscan.geo.track import Track

JPEG_SUFFIXES = {".jpg", ".jpeg"}
GPS_IFD, EXIF_IFD = 0x8825, 0x8769
# GPS IFD tags (EXIF 2.32)
LAT_REF, LAT, LON_REF, LON, ALT_REF, ALT, TIME, DOP = 1, 2, 3, 4, 5, 6, 7, 11
SPEED_REF, SPEED, TRACK, IMG_DIRECTION, DATE, H_ERROR = 12, 13, 15, 17, 29, 31
# Exif IFD tags
DATETIME_ORIGINAL, SUBSEC_ORIGINAL, OFFSET_ORIGINAL = 36867, 37521, 36881
SPEED_UNITS = {"K": KMH_TO_MPS, "M": MPH_TO_MPS, "N": KNOTS_TO_MPS}
HINT = "use frames from a camera or app that writes GPS into EXIF, or give the track with --gps (GPX, NMEA, CSV)"


@dataclass(frozen=True)
class ExifFix:
    """The GPS fix of one photo. `time` is UTC (see `time_source`); unknown values are None."""

    path: Path
    lat: float
    lon: float
    time: datetime | None
    time_source: str  # "GPS" (GPSDateStamp+GPSTimeStamp), "camera" (DateTimeOriginal) or "none"
    camera_time: datetime | None  # DateTimeOriginal as UTC (offset applied, or assumed UTC)
    altitude_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None  # GPSTrack (direction of travel), else GPSImgDirection
    image_direction_deg: float | None = None  # GPSImgDirection (where the camera points)
    accuracy_m: float | None = None


def read_exif_fix(path: Path) -> ExifFix:
    """The EXIF GPS fix of one JPEG. Raises GPSError naming the file when it has none."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            exif = im.getexif()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise GPSError(f"cannot read this image's EXIF: {e}", path=path, hint=HINT) from e
    gps = exif.get_ifd(GPS_IFD)
    lat = _degrees(gps.get(LAT), gps.get(LAT_REF), "S")
    lon = _degrees(gps.get(LON), gps.get(LON_REF), "W")
    if lat is None or lon is None:
        what = "no EXIF GPS position" if gps else "no EXIF GPS data"
        raise GPSError(f"this image has {what}", path=path, hint=HINT)
    camera_time = _camera_time(exif.get_ifd(EXIF_IFD))
    gps_time = _gps_time(gps.get(DATE), gps.get(TIME))
    time, source = (gps_time, "GPS") if gps_time else (camera_time, "camera") if camera_time else (None, "none")
    altitude = _number(gps.get(ALT))
    if altitude is not None and _text(gps.get(ALT_REF)) in ("1", "\x01"):
        altitude = -altitude
    speed = _number(gps.get(SPEED))
    unit = SPEED_UNITS.get(_text(gps.get(SPEED_REF)).upper() or "K")
    speed = speed * unit if speed is not None and unit else None
    track, direction = _number(gps.get(TRACK)), _number(gps.get(IMG_DIRECTION))
    accuracy = _number(gps.get(H_ERROR))
    if accuracy is None and _number(gps.get(DOP)) is not None:
        accuracy = dop_to_accuracy(gps.get(DOP))
    return ExifFix(path=path, lat=lat, lon=lon, time=time, time_source=source, camera_time=camera_time,
                   altitude_m=altitude, speed_mps=speed, heading_deg=track if track is not None else direction,
                   image_direction_deg=direction, accuracy_m=accuracy)


def read_exif_track(path: Path) -> Track:
    """A track from one JPEG (a one-fix track) or a folder of them (images without GPS skipped)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in JPEG_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise GPSError("no JPEG images in this folder to read EXIF GPS from", path=path, hint=HINT)
    else:
        files = [path]
    fixes, skipped, camera_times = [], {}, []
    for f in files:
        try:
            fix = read_exif_fix(f)
        except GPSError:
            if len(files) == 1:
                raise
            skipped["image without EXIF GPS"] = skipped.get("image without EXIF GPS", 0) + 1
            camera_times.append(_camera_time_of(f))
            continue
        fixes.append(fix)
        camera_times.append(fix.camera_time)
    if not fixes:
        raise GPSError(f"none of the {len(files)} images has EXIF GPS (e.g. {files[0].name})", path=path, hint=HINT)
    if len(files) == 1 and fixes[0].time is None:
        raise GPSError("this image has an EXIF GPS position but no time (neither GPS time nor DateTimeOriginal)",
                       path=path, hint="give the capture time with --start-time")
    table = pd.DataFrame([{k: v for k, v in asdict(fx).items() if k not in ("path", "time_source", "camera_time",
                                                                              "image_direction_deg")}
                          for fx in fixes])
    table["time"] = pd.to_datetime(table["time"], utc=True)
    table = table.sort_values("time", kind="stable")  # a folder's name order is no log order to check
    return Track.from_fixes(table, source=path, format="exif", skipped=skipped,
                            video_start=_video_start(fixes, camera_times), min_fixes=1 if len(files) == 1 else 2)


def _video_start(fixes: list[ExifFix], camera_times: list[datetime | None]) -> pd.Timestamp | None:
    """UTC of the footage's first frame (earliest DateTimeOriginal) on the GPS clock, when derivable."""
    if not camera_times or any(t is None for t in camera_times):
        return None  # the footage reader then times frames by name order, not by camera clock
    offsets = [(f.time - f.camera_time).total_seconds() for f in fixes if f.time_source == "GPS" and f.camera_time]
    if not offsets:
        return None
    return pd.Timestamp(min(camera_times)) + pd.Timedelta(seconds=float(np.median(offsets)))


def _camera_time_of(f: Path) -> datetime | None:
    try:
        with Image.open(f) as im:
            return _camera_time(im.getexif().get_ifd(EXIF_IFD))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def _camera_time(ifd) -> datetime | None:
    """DateTimeOriginal (+ sub-seconds) at OffsetTimeOriginal, else taken as UTC; as the footage reader does."""
    raw = ifd.get(DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    sub = str(ifd.get(SUBSEC_ORIGINAL, "")).strip("\x00 ")
    if sub.isdigit():
        t += timedelta(seconds=int(sub) / 10 ** len(sub))
    m = re.fullmatch(r"([+-])(\d{2}):(\d{2})", str(ifd.get(OFFSET_ORIGINAL, "")).strip("\x00 "))
    if m:
        delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
        t = t.replace(tzinfo=timezone(delta if m[1] == "+" else -delta))
    return as_utc(t)


def _gps_time(date, hms) -> datetime | None:
    try:
        day = datetime.strptime(_text(date).strip("\x00 "), "%Y:%m:%d")
        h, m, s = (float(v) for v in hms)
    except (TypeError, ValueError):
        return None
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        return None
    return as_utc(day + timedelta(hours=h, minutes=m, seconds=s))


def _degrees(dms, ref, negative: str) -> float | None:
    try:
        d, m, s = (float(v) for v in dms)
    except (TypeError, ValueError):
        return None
    value = d + m / 60 + s / 3600
    if not np.isfinite(value):
        return None
    return -value if _text(ref).upper().startswith(negative) else value


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if np.isfinite(v) else None


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip("\x00 ")
