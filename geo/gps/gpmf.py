"""GoPro GPMF telemetry in MP4/MOV: the GPS5 (HERO5-HERO10, MAX) and GPS9 (HERO11+) streams.

Why our own reader: the PyPI options were weighed. `mapillary-tools` has a GPMF parser, but it is an
upload tool that pins its dependencies tightly (construct~=2.10, jsonschema~=4.17, exifread,
piexif, requests, tqdm ...) - too much weight, and too many pins, for one function.
`telemetry-parser` (Rust, no dependencies) reads the file, but returns loosely typed dicts with
fourcc keys in hex and its own sample timing, and its last release is a 5 MB binary from January
2024. GPMF is a small, documented KLV format (github.com/gopro/gpmf-parser), and PyAV, already a
dependency, demuxes its payloads with their MP4 timing; the part we need is a hundred lines.

How it is read:
- each payload (one per second of video) is a GPMF packet of the "GoPro MET" data track, timed by
  the MP4 sample table (pts, duration) on the movie timeline;
- within a payload, DEVC > STRM > (STMP, SCAL, GPSF, GPSU, GPSP, GPS5|GPS9); sticky values such as
  SCAL come before the data they scale;
- a payload's fixes are spread evenly over its time span (GPS runs at about 10-18 Hz);
- fixes without lock (GPSF < 2, or GPS9's per-fix fix field) are skipped and counted;
- GPSU is the UTC time of a payload's first fix (GPS9 times every fix). The median of (GPS time -
  video time) over locked payloads is the UTC time of the first video frame, `video_start`; the
  median ignores the odd stale GPSU (the first payload of the sample clip is 1.4 s off). Fix times
  are video_start plus video time, so fixes and frames share one clock;
- accuracy is GPSP (DOP x 100) or GPS9's DOP times a typical range error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import numpy as np
import pandas as pd

from roadscan.core.errors import GPSError
from roadscan.geo.gps.units import as_utc, dop_to_accuracy
from roadscan.geo.track import Track

HINT_NO_GPS = ("this camera had no GPS or it was switched off; give the track from another logger with --gps "
               "(GPX, NMEA, CSV)")
NUMPY_TYPES = {"b": "i1", "B": "u1", "s": ">i2", "S": ">u2", "l": ">i4", "L": ">u4", "f": ">f4", "d": ">f8",
               "j": ">i8", "J": ">u8", "q": ">i4", "Q": ">i8"}
FIXED_POINT = {"q": 2.0 ** 16, "Q": 2.0 ** 32}
GPS_KEYS = ("GPS5", "GPS9")
GPS9_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


class _Damaged(ValueError):
    """A KLV entry that runs past its container."""


@dataclass
class GPSBlock:
    """One GPS5/GPS9 array of a payload, scaled: columns lat, lon, alt, speed2d, speed3d[, days, secs, dop, fix]."""

    key: str
    values: np.ndarray
    gpsu: datetime | None = None
    fix: int | None = None  # GPSF: 0 none, 2 2D, 3 3D
    dop: float | None = None  # GPSP / 100


@dataclass
class Payload:
    gps: list[GPSBlock] = field(default_factory=list)
    sensors: set[str] = field(default_factory=set)


def read_gpmf(path: Path) -> Track:
    path = Path(path)
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise GPSError(f"cannot read this file as a video: {getattr(e, 'strerror', None) or e}", path=path,
                       hint="give a complete GoPro MP4, or the track with --gps") from e
    with container:
        streams = [s for s in container.streams.data if "GoPro MET" in s.metadata.get("handler_name", "")]
        if not streams:
            raise GPSError("no GPS in this file: the video carries no GoPro telemetry (GPMF) track", path=path,
                           hint="give the track with --gps (GPX, NMEA, CSV)")
        video = container.streams.video[0] if container.streams.video else None
        v0 = float(video.start_time * video.time_base) if video is not None and video.start_time is not None else 0.0
        created = container.metadata.get("creation_time")
        payloads, damaged = [], 0
        for packet in container.demux(streams[0]):
            if packet.size == 0 or packet.pts is None:
                continue
            t0 = float(packet.pts * packet.time_base) - v0
            dur = float((packet.duration or 0) * packet.time_base)
            try:
                payloads.append((t0, dur, parse_payload(bytes(packet))))
            except _Damaged:
                damaged += 1
    return track_from_payloads(path, payloads, damaged, created)


def track_from_payloads(path: Path, payloads: list, damaged: int = 0, created: str | None = None) -> Track:
    """The track of decoded payloads [(video start s, duration s, Payload)]: fixes spread, clock set."""
    skipped = {"damaged GPMF payload": damaged} if damaged else {}
    video_t, cols, gps_t, gps_video_t = [], [], [], []
    no_lock = 0
    typical = float(np.median([d for _, d, _ in payloads if d > 0] or [1.0]))  # a payload is about 1 s
    for t0, dur, payload in payloads:
        dur = dur if dur > 0 else typical
        for block in payload.gps:
            n = len(block.values)
            if not n:
                continue
            vt = t0 + dur * np.arange(n) / n
            v = block.values
            if block.key == "GPS9" and v.shape[1] >= 9:
                locked = v[:, 8] >= 2
                times = [GPS9_EPOCH + timedelta(days=float(d), seconds=float(s)) for d, s in v[:, 5:7]]
                dop = v[:, 7]
            else:
                locked = np.full(n, block.fix is None or block.fix >= 2)
                times = [block.gpsu] + [None] * (n - 1)
                dop = np.full(n, block.dop if block.dop is not None else np.nan)
            no_lock += int((~locked).sum())
            for i in np.flatnonzero(locked):
                if times[i] is not None and as_utc(times[i]) is not None:
                    gps_t.append(times[i])
                    gps_video_t.append(vt[i])
            video_t.append(vt[locked])
            cols.append(np.column_stack([v[locked, :4], dop[locked]]))
    if not cols:
        sensors = sorted(set().union(*(p.sensors for _, _, p in payloads))) if payloads else []
        has = f" (it has {', '.join(sensors[:8])}{' ...' if len(sensors) > 8 else ''})" if sensors else ""
        raise GPSError(f"no GPS in this file: its GoPro telemetry has no camera GPS stream (GPS5/GPS9){has}",
                       path=path, hint=HINT_NO_GPS)
    if no_lock:
        skipped["no GPS lock"] = no_lock
    video_t, table = np.concatenate(video_t), np.concatenate(cols)
    if not len(table):
        raise GPSError(f"the GoPro GPS never had a fix in this video ({no_lock} fixes without lock)", path=path,
                       hint="let the camera find satellites before recording (outdoors, a minute or two), "
                            "or give the track with --gps")

    video_start = None
    if gps_t:
        epoch_s = (pd.DatetimeIndex(gps_t) - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
        offsets = np.asarray(epoch_s, np.float64) - np.asarray(gps_video_t)
        video_start = pd.Timestamp(float(np.median(offsets)), unit="s", tz="UTC").round("us")
        origin = video_start
    elif (origin := _creation_time(created)) is not None:
        pass  # no GPS time at all: the camera clock, which the footage reader uses too, keeps them together
    else:
        raise GPSError("the GoPro GPS fixes carry no time (no GPSU) and the video has no creation time", path=path,
                       hint="give the track with --gps, or --start-time")
    fixes = pd.DataFrame({
        "time": origin + pd.to_timedelta(video_t, unit="s"),
        "lat": table[:, 0], "lon": table[:, 1], "altitude_m": table[:, 2], "speed_mps": table[:, 3],
        "accuracy_m": [dop_to_accuracy(d) for d in table[:, 4]],
    })
    return Track.from_fixes(fixes, source=path, format="gpmf", skipped=skipped, video_start=video_start)


# --- KLV -------------------------------------------------------------------------------------------


def parse_payload(buf: bytes) -> Payload:
    """The GPS blocks (and names of other sensor streams) of one GPMF payload."""
    out = Payload()
    for key, typ, size, repeat, off in _klv(buf, 0, len(buf)):
        if key == "DEVC" and typ == "\0":
            for k2, t2, s2, r2, o2 in _klv(buf, off, off + size * repeat):
                if k2 == "STRM" and t2 == "\0":
                    _stream(buf, o2, o2 + s2 * r2, out)
    return out


def _stream(buf: bytes, start: int, end: int, out: Payload) -> None:
    sticky: dict[str, np.ndarray | str] = {}
    block_keys = []
    for key, typ, size, repeat, off in _klv(buf, start, end):
        if key in GPS_KEYS:
            values = _values(buf, typ, size, repeat, off, sticky.get("TYPE"))
            scal = np.asarray(sticky.get("SCAL", np.ones(1)), np.float64).ravel()
            if scal.size not in (1, values.shape[1]):
                scal = scal[:1] if scal.size else np.ones(1)
            values = values / np.where(scal == 0, 1.0, scal)
            gpsu = _gpsu(sticky.get("GPSU"))
            fix = int(np.asarray(sticky["GPSF"]).ravel()[0]) if "GPSF" in sticky else None
            dop = float(np.asarray(sticky["GPSP"]).ravel()[0]) / 100 if "GPSP" in sticky else None
            out.gps.append(GPSBlock(key=key, values=values, gpsu=gpsu, fix=fix, dop=dop))
        elif key in ("SCAL", "GPSF", "GPSP"):
            sticky[key] = _values(buf, typ, size, repeat, off, None)
        elif key in ("TYPE", "GPSU"):
            sticky[key] = bytes(buf[off:off + size * repeat]).decode("latin-1").rstrip("\0")
        elif repeat > 1 and key.isalnum() and key.isupper() and key not in ("STNM", "SIUN", "UNIT", "ORIN", "ORIO"):
            block_keys.append(key)
    out.sensors.update(block_keys)


def _klv(buf: bytes, start: int, end: int) -> Iterator[tuple[str, str, int, int, int]]:
    """(key, type, struct size, repeat, data offset) of each entry in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        raw_key = buf[pos:pos + 4]
        if raw_key == b"\0\0\0\0":
            return
        typ, size = buf[pos + 4], buf[pos + 5]
        repeat = int.from_bytes(buf[pos + 6:pos + 8], "big")
        length = size * repeat
        if pos + 8 + length > end:
            raise _Damaged(f"{raw_key!r} runs past its container")
        yield raw_key.decode("latin-1"), chr(typ), size, repeat, pos + 8
        pos += 8 + ((length + 3) & ~3)


def _values(buf: bytes, typ: str, size: int, repeat: int, off: int, type_string) -> np.ndarray:
    """A (repeat, columns) float array of numeric entries; complex ('?') ones laid out by TYPE."""
    data = buf[off:off + size * repeat]
    if typ == "?":
        if not type_string:
            raise _Damaged("complex entry without TYPE")
        dtype = np.dtype([(f"f{i}", NUMPY_TYPES[c]) for i, c in enumerate(type_string)])
        if dtype.itemsize != size:
            raise _Damaged("TYPE does not match the entry size")
        rec = np.frombuffer(data, dtype=dtype)
        cols = [rec[f"f{i}"].astype(np.float64) / FIXED_POINT.get(c, 1.0) for i, c in enumerate(type_string)]
        return np.column_stack(cols) if len(rec) else np.empty((0, len(type_string)))
    if typ not in NUMPY_TYPES:
        raise _Damaged(f"unexpected GPMF type {typ!r}")
    dtype = np.dtype(NUMPY_TYPES[typ])
    if size % dtype.itemsize:
        raise _Damaged("entry size is not a whole number of values")
    values = np.frombuffer(data, dtype=dtype).astype(np.float64) / FIXED_POINT.get(typ, 1.0)
    return values.reshape(repeat, size // dtype.itemsize)


def _creation_time(raw: str | None) -> pd.Timestamp | None:
    try:
        t = pd.Timestamp(raw) if raw else None
    except ValueError:
        return None
    if t is None or t is pd.NaT:
        return None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _gpsu(text) -> datetime | None:
    """GPSU 'yymmddhhmmss.sss' as UTC; None when absent or garbled (cameras without lock write junk)."""
    if not isinstance(text, str):
        return None
    try:
        return as_utc(datetime.strptime(text.strip()[:16], "%y%m%d%H%M%S.%f"))
    except ValueError:
        return None
