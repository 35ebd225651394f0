"""GPS sources: `read_track(source)` reads any supported one into a validated `Track`.

The format is chosen by suffix and, where the suffix says nothing (.txt, .log, none), by content:

    .gpx                         GPX tracks/routes (gps.gpx)
    .nmea .nma                   NMEA 0183 RMC/GGA (gps.nmea)
    .csv .tsv                    CSV with a header (gps.csv_track documents the columns)
    .mp4 .mov .360               GoPro GPMF telemetry (gps.gpmf)
    .jpg .jpeg, or a folder      EXIF GPS of the image(s) (gps.exif)
    anything else (.txt, .log)   sniffed: XML with <gpx>, $-sentences, an MP4 or JPEG header, a lat column
"""

from __future__ import annotations

from pathlib import Path

from roadscan.core.errors import GPSError
from roadscan.geo.gps.csv_track import read_csv_track
from roadscan.geo.gps.exif import ExifFix, read_exif_fix, read_exif_track
from roadscan.geo.gps.gpmf import read_gpmf
from roadscan.geo.gps.gpx import read_gpx
from roadscan.geo.gps.nmea import read_nmea
from roadscan.geo.track import Track

__all__ = ["read_track", "read_exif_fix", "ExifFix", "read_gpx", "read_nmea", "read_csv_track", "read_gpmf",
           "read_exif_track", "READERS"]

READERS = {"gpx": read_gpx, "nmea": read_nmea, "csv": read_csv_track, "gpmf": read_gpmf, "exif": read_exif_track}
SUFFIXES = {".gpx": "gpx", ".nmea": "nmea", ".nma": "nmea", ".csv": "csv", ".tsv": "csv",
            ".mp4": "gpmf", ".mov": "gpmf", ".360": "gpmf", ".jpg": "exif", ".jpeg": "exif"}
HINT = "give a GPX, NMEA or CSV log, a GoPro MP4, or JPEG frames with EXIF GPS"


def read_track(source: str | Path) -> Track:
    """The GPS track in a file (or the EXIF GPS of a folder of JPEGs). Raises GPSError naming the file."""
    path = Path(source).expanduser()
    if not path.exists():
        raise GPSError("no such GPS file or folder", path=path, hint="check the path; " + HINT)
    if path.is_dir():
        return read_exif_track(path)
    try:
        kind = SUFFIXES.get(path.suffix.lower()) or sniff(path)
        if kind is None:
            raise GPSError(f"cannot tell what kind of GPS file this is (suffix {path.suffix or 'none'!r})",
                           path=path, hint=HINT)
        return READERS[kind](path)
    except OSError as e:
        raise GPSError(f"cannot read this file: {e.strerror or e}", path=path,
                       hint="check the file exists and can be read") from e


def sniff(path: Path) -> str | None:
    """The format by the first bytes: XML GPX, NMEA sentences, an MP4 box, a JPEG, or a CSV header."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[4:8] == b"ftyp":
        return "gpmf"
    if head[:3] == b"\xff\xd8\xff":
        return "exif"
    text = head.decode("utf-8", "replace").lstrip("\ufeff \r\n\t")
    if text.startswith("<") and "<gpx" in text:
        return "gpx"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any(ln.startswith(("$", "!")) or "$GP" in ln or "$GN" in ln for ln in lines[:20]):
        return "nmea"
    if lines and any(name in lines[0].lower() for name in ("lat", "latitude")):
        return "csv"
    return None
