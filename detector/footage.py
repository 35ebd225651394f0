"""Reading survey footage: a video file or a folder of JPEG frames, as one stream of RGB frames.

Footage is opened once to learn its size, start time and the time of every frame (cheap: video
packets are demuxed, not decoded; images only have their headers read), so that a job can choose
which frames it wants before decoding any. `frames(keep=...)` then decodes as a stream and converts
only the chosen frames to arrays, so memory stays bounded however long the drive.

Footage is checked for what it is: a still image (a PNG screenshot, a BMP), a pipe or a device is
refused before any decoding, since each would otherwise pass as a one-frame "video" or block forever.
A damaged file is refused, not half-read: a container that cannot be parsed, a video whose data
ends before the frames its header lists, or a frame the job asked for that cannot be decoded all
raise FootageError naming the file and the frame/time, so a pipeline can drop the survey whole.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal
from weakref import WeakSet

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from roadscan.core.errors import ConfigError, FootageError

JPEG_SUFFIXES = {".jpg", ".jpeg"}
VIDEO_HINT = "give a video file (MP4, MOV, AVI, MKV) or a folder of JPEG frames"
# FFmpeg's demuxers of single pictures and image sequences: a file they open is no drive.
STILL_IMAGE_FORMATS = {"image2", "gif", "apng"}
# Cameras with an unset clock stamp 1904-01-01 (QuickTime epoch) or 1970-01-01; such a time is no time.
EARLIEST_CLOCK = datetime(1980, 1, 1, tzinfo=timezone.utc)
# ImportError: ultralytics, once imported, wraps PIL.Image.open so that a file Pillow cannot identify
# raises ImportError for a HEIC plugin (roadscan's ensure_offline undoes that, other importers may not).
IMAGE_ERRORS = (OSError, Image.DecompressionBombError, ImportError)


@dataclass(frozen=True)
class FootageInfo:
    path: Path
    kind: Literal["video", "images"]
    width: int  # as the frames are delivered (after display rotation / EXIF orientation)
    height: int
    fps: float | None
    frame_count: int | None
    duration_s: float | None
    start_time: datetime | None  # UTC-aware; see the Footage classes for where it comes from


@dataclass
class Frame:
    index: int  # position in decode order, the same as in Footage.timestamps()
    time_s: float  # seconds since the footage's first frame
    image: np.ndarray  # (H, W, 3) uint8 RGB
    path: Path | None = None  # the source image, for image folders


class Footage(ABC):
    """Open footage: `info`, per-frame `timestamps()` and a decoding stream `frames()`."""

    info: FootageInfo
    _times: np.ndarray

    def timestamps(self) -> np.ndarray:
        """Seconds since the first frame for every frame, in decode (= frame index) order."""
        return self._times.copy()

    @abstractmethod
    def frames(self, keep=None) -> Iterator[Frame]:
        """Frames in index order; `keep` (None = all, a boolean mask, or indices) picks which are delivered."""

    def close(self) -> None:
        """Release what decoding holds open (image folders hold nothing between frames)."""

    def __enter__(self) -> Footage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._times)

    def _wanted(self, keep) -> np.ndarray:
        """Sorted frame indices to deliver, from None (all), a boolean mask or indices."""
        n = len(self._times)
        if keep is None:
            return np.arange(n)
        if isinstance(keep, (set, frozenset, Iterator)):
            keep = np.fromiter(keep, dtype=np.int64)
        keep = np.asarray(keep)
        if keep.dtype == bool:
            if keep.shape != (n,):
                raise ValueError(f"keep mask has shape {keep.shape}, the footage has {n} frames")
            return np.flatnonzero(keep)
        idx = np.unique(keep.astype(np.int64))
        if len(idx) and (idx[0] < 0 or idx[-1] >= n):
            raise ValueError(f"keep holds frame indices outside 0..{n - 1}")
        return idx


# ---------------------------------------------------------------------------------------------
# Video


class VideoFootage(Footage):
    """A video file read with PyAV (FFmpeg).

    Times come from the video stream's packet timestamps (sorted: decoders emit frames in
    presentation order), relative to the first frame, so variable frame rates are honoured.
    `start_time` is the container's `creation_time`; GoPro and many dashcams write their local
    clock there as if it were UTC, which the pipeline's time offset corrects.
    """

    def __init__(self, path: Path):
        self._path = path
        self._live: WeakSet[Iterator[Frame]] = WeakSet()  # frame streams not yet finished or collected
        with self._open() as container:
            stream = container.streams.video[0]
            _refuse_still_image(container, stream, path)
            pts, end, n_packets = _demux_pts(container, stream, path)
            header_frames = stream.frames
            rate = stream.average_rate or stream.guessed_rate
            time_base = stream.time_base
            start = _creation_time(container.metadata) or _creation_time(stream.metadata)
        if not n_packets:
            raise FootageError("the video stream holds no frames", path=path, hint=VIDEO_HINT)
        fps = float(rate) if rate else None
        tb = float(time_base) if time_base else 1.0 / (fps or 1.0)
        self._by_pts = pts is not None  # decoded frames are matched to indices by timestamp
        if pts is None:  # a stream without timestamps (raw elementary streams): count frames at the nominal rate
            pts, end, tb = np.arange(n_packets), None, 1.0 / (fps or 1.0)
        pts = np.sort(pts)
        self._pts = pts
        self._times = (pts - pts[0]).astype(np.float64) * tb
        if header_frames and len(pts) < header_frames:
            raise FootageError(
                f"the video is truncated: its header lists {header_frames} frames but the data ends after "
                f"{len(pts)} (at {self._times[-1]:.2f} s)", path=path,
                hint="copy the file again from the camera or card; a partial file cannot be surveyed")
        first = self._first_frame()
        self._turns = round((first.rotation or 0) / 90) % 4  # display matrix, counter-clockwise quarter turns
        w, h = (first.height, first.width) if self._turns % 2 else (first.width, first.height)
        last = end if end is not None and end > pts[-1] else None
        duration = (last - pts[0]) * tb if last is not None else self._times[-1] + (1 / fps if fps else 0.0)
        self.info = FootageInfo(path=path, kind="video", width=w, height=h, fps=fps, frame_count=len(pts),
                                duration_s=float(duration), start_time=start)

    def _open(self):
        try:
            container = av.open(str(self._path))
        except av.FFmpegError as e:
            raise FootageError(f"cannot read this file as a video: {_reason(e)}", path=self._path,
                               hint=f"check the file is a complete video; {VIDEO_HINT}") from e
        if not container.streams.video:
            container.close()
            raise FootageError("the file holds no video stream (audio or data only?)", path=self._path,
                               hint=VIDEO_HINT)
        return container

    def _first_frame(self):
        with self._open() as container:
            try:
                for frame in container.decode(container.streams.video[0]):
                    return frame
            except av.FFmpegError as e:
                raise FootageError(f"the first video frame cannot be decoded: {_reason(e)}", path=self._path,
                                   hint=VIDEO_HINT) from e
        raise FootageError("no video frame in this file can be decoded", path=self._path, hint=VIDEO_HINT)

    def _index_of(self, frame, previous: int) -> int:
        if self._by_pts and frame.pts is not None:
            i = int(np.searchsorted(self._pts, frame.pts))
            if i < len(self._pts) and self._pts[i] == frame.pts:
                return i
        return previous + 1

    def frames(self, keep=None) -> Iterator[Frame]:
        """Decode in order and deliver the kept frames; raises FootageError if one cannot be decoded.

        Frames after the last kept one are not decoded at all.
        """
        stream = self._decode(self._wanted(keep))
        self._live.add(stream)
        return stream

    def _decode(self, wanted: np.ndarray) -> Iterator[Frame]:
        if not len(wanted):
            return
        with self._open() as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # FFmpeg frame/slice threads; a few frames in flight, no more
            k, index = 0, -1
            try:
                for av_frame in container.decode(stream):
                    index = self._index_of(av_frame, index)
                    if index > wanted[k]:
                        raise self._broken(wanted[k], "it was skipped by the decoder (damaged data)")
                    if index < wanted[k]:
                        continue  # decoded to keep the stream going, never converted
                    image = av_frame.to_ndarray(format="rgb24")
                    if self._turns:
                        image = np.ascontiguousarray(np.rot90(image, self._turns))
                    yield Frame(index=index, time_s=float(self._times[index]), image=image)
                    k += 1
                    if k == len(wanted):
                        return
            except av.FFmpegError as e:
                raise self._broken(max(index + 1, 0), _reason(e)) from e
            raise self._broken(wanted[k], "the decoder stopped before it (damaged or cut-off data)")

    def _broken(self, index: int, why: str) -> FootageError:
        t = self._times[min(index, len(self._times) - 1)]
        return FootageError(f"decoding breaks at frame {index} of {len(self._times)} ({t:.2f} s): {why}",
                            path=self._path, hint="the video is damaged there; copy it again from the camera")

    def close(self) -> None:
        """Stop half-read frame streams; each closes its own container (closing it under them would crash FFmpeg)."""
        for stream in list(self._live):
            stream.close()


def _refuse_still_image(container, stream, path: Path) -> None:
    fmt = container.format.name
    if fmt in STILL_IMAGE_FORMATS or fmt.endswith("_pipe"):
        raise FootageError(f"is a still image ({stream.codec_context.name.upper()}), not footage of a drive",
                           path=path, hint=f"{VIDEO_HINT} (a single JPEG photo with EXIF GPS works too)")


def _demux_pts(container, stream, path: Path) -> tuple[np.ndarray | None, int | None, int]:
    """Timestamps of every video packet, the end of the last one and the packet count, without decoding.

    Timestamps are None when some packet carries none.

    A Python loop over packets: PyAV has no bulk packet-index API, and demuxing costs microseconds
    per packet next to the milliseconds decoding takes.
    """
    pts: list[int] = []
    end = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the empty packet PyAV sends to flush decoders
                continue
            t = packet.pts if packet.pts is not None else packet.dts
            pts.append(t)
            if t is not None and packet.duration:
                end = t + packet.duration if end is None else max(end, t + packet.duration)
    except av.FFmpegError as e:
        raise FootageError(f"the video data is damaged after {len(pts)} frames: {_reason(e)}", path=path,
                           hint="copy the file again from the camera or card") from e
    if any(t is None for t in pts):
        return None, None, len(pts)
    return np.asarray(pts, dtype=np.int64), end, len(pts)


def _creation_time(metadata: dict) -> datetime | None:
    raw = metadata.get("creation_time")
    if not raw:
        return None
    try:
        t = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    return t if t >= EARLIEST_CLOCK else None


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


# ---------------------------------------------------------------------------------------------
# JPEG folders


class ImageFootage(Footage):
    """JPEG frames (a folder, or one photo), in natural file-name order.

    Times come from EXIF DateTimeOriginal (+ SubSecTimeOriginal, + OffsetTimeOriginal for the time
    zone; without it the camera clock is taken as UTC) relative to the earliest frame, and frames
    are put in capture order. If any image lacks the tag, frames are taken in name order at
    `fps` frames per second instead. `start_time` is the first frame's DateTimeOriginal.
    """

    def __init__(self, path: Path, files: list[Path], fps: float):
        self._path = path
        headers = [_read_header(f) for f in files]
        sizes = {(w, h) for w, h, _ in headers}
        if len(sizes) > 1:
            (w0, h0, _), f0 = headers[0], files[0]
            i = next(i for i, (w, h, _) in enumerate(headers) if (w, h) != (w0, h0))
            raise FootageError(
                f"the images differ in size: {f0.name} is {w0}x{h0} but {files[i].name} is "
                f"{headers[i][0]}x{headers[i][1]}", path=path,
                hint="a survey is one camera's frames at one size; split the folder by camera")
        stamps = [t for _, _, t in headers]
        if all(t is not None for t in stamps):
            order = sorted(range(len(files)), key=lambda i: stamps[i])  # stable: name order breaks ties
            files = [files[i] for i in order]
            stamps = [stamps[i] for i in order]
            times = np.array([(t - stamps[0]).total_seconds() for t in stamps])
            span = times[-1]
            fps_out = (len(times) - 1) / span if span > 0 else None
        else:
            times = np.arange(len(files)) / fps
            fps_out = fps
        self._files = files
        self._times = times
        w, h = sizes.pop()
        self.info = FootageInfo(path=path, kind="images", width=w, height=h, fps=fps_out,
                                frame_count=len(files),
                                duration_s=float(times[-1] + (1 / fps_out if fps_out else 0.0)),
                                start_time=stamps[0])

    @property
    def files(self) -> list[Path]:
        """The image files in frame-index order."""
        return list(self._files)

    def frames(self, keep=None) -> Iterator[Frame]:
        """Decode the kept images one at a time (others are not opened)."""
        for i in self._wanted(keep):
            f = self._files[i]
            try:
                with Image.open(f) as im:
                    image = np.array(ImageOps.exif_transpose(im).convert("RGB"))
            except IMAGE_ERRORS as e:
                raise FootageError(f"frame {i} ({f.name}) cannot be decoded: {_image_reason(e)}", path=f,
                                   hint="replace or remove the damaged image and run again") from e
            yield Frame(index=int(i), time_s=float(self._times[i]), image=image, path=f)


def _read_header(f: Path) -> tuple[int, int, datetime | None]:
    """Displayed size and capture time from a JPEG's header, without decoding its pixels."""
    try:
        with Image.open(f) as im:
            exif = im.getexif()
            w, h = im.size
    except IMAGE_ERRORS as e:
        raise FootageError(f"cannot read image {f.name}: {_image_reason(e)}", path=f,
                           hint="replace or remove the damaged image and run again") from e
    if exif.get(0x0112) in (5, 6, 7, 8):  # EXIF orientations that turn the picture a quarter
        w, h = h, w
    return w, h, _exif_time(exif)


def _image_reason(e: Exception) -> str:
    return "not an image Pillow can read" if isinstance(e, (UnidentifiedImageError, ImportError)) else str(e)


def _exif_time(exif) -> datetime | None:
    ifd = exif.get_ifd(0x8769)  # Exif sub-IFD
    raw = ifd.get(36867)  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00" and other unset clocks
        return None
    sub = str(ifd.get(37521, "")).strip("\x00 ")  # SubSecTimeOriginal, digits of a decimal fraction
    if sub.isdigit():
        t += timedelta(seconds=int(sub) / 10 ** len(sub))
    offset = str(ifd.get(36881, "")).strip("\x00 ")  # OffsetTimeOriginal, "+02:00"
    m = re.fullmatch(r"([+-])(\d{2}):(\d{2})", offset)
    tz = timezone.utc
    if m:
        delta = timedelta(hours=int(m[2]), minutes=int(m[3]))
        tz = timezone(delta if m[1] == "+" else -delta)
    t = t.replace(tzinfo=tz).astimezone(timezone.utc)
    return t if t >= EARLIEST_CLOCK else None


def _natural_key(p: Path) -> list:
    # Natural order: frame2.jpg before frame10.jpg, as cameras and extractors number them unpadded.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


# ---------------------------------------------------------------------------------------------


def open_footage(path, *, fps_for_images: float = 1.0) -> Footage:
    """Open a video file, a folder of JPEG frames or a single JPEG photo.

    `fps_for_images` times image frames that carry no EXIF capture time.
    """
    path = Path(path).expanduser()
    if not fps_for_images or fps_for_images <= 0:
        raise ConfigError(f"the frame rate for images must be positive, got {fps_for_images}",
                          hint="pass the rate the frames were taken at, e.g. 1 or 2 per second")
    if not path.exists():
        raise FootageError("no such file or folder", path=path, hint=f"check the path; {VIDEO_HINT}")
    if not (path.is_dir() or path.is_file()):  # a FIFO would block forever, a device never end
        raise FootageError("is not a regular file (a pipe, socket or device)", path=path,
                           hint=f"save the footage to a file first; {VIDEO_HINT}")
    if path.is_dir():
        entries = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
        files = sorted((p for p in entries if p.suffix.lower() in JPEG_SUFFIXES), key=_natural_key)
        if not files:
            others = f" (it holds {len(entries)} other files, e.g. {entries[0].name})" if entries else " (it is empty)"
            raise FootageError(f"no JPEG frames (.jpg, .jpeg) in this folder{others}", path=path, hint=VIDEO_HINT)
        return ImageFootage(path, files, fps_for_images)
    if path.suffix.lower() in JPEG_SUFFIXES:
        return ImageFootage(path, [path], fps_for_images)
    return VideoFootage(path)
