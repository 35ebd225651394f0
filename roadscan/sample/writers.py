"""The sample drive's footage and GPS log, written the way cameras and loggers write them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import gpxpy.gpx
import numpy as np
import pandas as pd

VIDEO_CODECS = ("libx264", "mpeg4")  # H.264 where the PyAV wheel has it


def write_video(path: Path, frames: Iterable[np.ndarray], *, fps: float, width: int, height: int,
                start_time: datetime) -> str:
    """An MP4 whose frame i is shown at exactly i / fps, stamped with `start_time` as creation_time.

    Returns the codec used.
    """
    codec = next(c for c in VIDEO_CODECS if c in av.codecs_available)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format="mp4") as container:
        # FFmpeg's MP4 muxer writes this into the movie header, where cameras keep their clock.
        container.metadata["creation_time"] = start_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        if codec == "libx264":  # quality high enough that one-pixel cracks survive; a quick motion search
            stream.options = {"crf": "20", "preset": "veryfast", "x264-params": "subme=1:me=dia:trellis=0"}
        else:
            stream.codec_context.bit_rate = 8_000_000
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return codec


def write_gpx(path: Path, fixes: pd.DataFrame, *, name: str) -> None:
    """A GPX 1.1 track of fixes with columns time (UTC datetimes), lat, lon."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "roadscan sample drive"
    track = gpxpy.gpx.GPXTrack(name=name)
    segment = gpxpy.gpx.GPXTrackSegment()
    # gpxpy builds one object per point; a log has one fix a second, so this stays small.
    segment.points = [gpxpy.gpx.GPXTrackPoint(latitude=round(lat, 8), longitude=round(lon, 8), time=t)
                      for t, lat, lon in zip(fixes["time"].dt.to_pydatetime(), fixes["lat"], fixes["lon"])]
    track.segments.append(segment)
    gpx.tracks.append(track)
    path.write_text(gpx.to_xml(version="1.1"), encoding="utf-8")


def iso_times(start: datetime, seconds: np.ndarray) -> pd.Series:
    """UTC timestamps `seconds` after `start`, as a timezone-aware pandas series."""
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(np.asarray(seconds), unit="s"))

