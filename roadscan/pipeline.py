"""The survey job: footage + GPS -> sampled frames -> detections -> ground positions -> store.

This is the only place where detector/ and geo/ meet; they exchange plain tables (pandas frames and
the Detections value type), never each other's objects.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from roadscan.api.store.database import Store
from roadscan.api.store.surveys import find_survey, staging_dir, write_survey
from roadscan.detector.anonymise import DEFAULT_MODE, MODES as ANONYMISE_MODES, Anonymiser
from roadscan.detector.backends import Detector, load_detector
from roadscan.core.classes import human_name
from roadscan.detector.footage import Footage, open_footage
from roadscan.core.errors import ConfigError, FootageError, GPSError, ModelError
from roadscan.fingerprint import fingerprint
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.roads import RoadNetwork
from roadscan.geo.gps import read_track
from roadscan.geo.locate import locate
from roadscan.geo.sampling import sample_by_distance
from roadscan.geo.track import Track
from roadscan.mapping import MappingOptions, map_defects

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "detector" / "models" / "roadscan.onnx"
STAGES = ("decode", "sample", "detect", "locate", "map", "store")


@dataclass
class ProcessOptions:
    """Everything about a job that is not the input files."""

    camera: str = "dashcam"
    camera_config: Path | None = None
    model: Path | None = None
    backend: str | None = None  # None: from the weights' suffix (.onnx -> ONNX Runtime, .pt -> ultralytics)
    confidence: float = 0.25
    imgsz: int = 416
    batch: int = 8
    spacing_m: float = 3.0
    min_speed_mps: float = 0.5
    time_offset_s: float = 0.0  # added to the footage's start time
    start_time: datetime | None = None  # overrides the container's start time
    store_images: str = "detections"  # "all", "detections" or "none"
    replace: bool = False
    name: str | None = None
    mapping: MappingOptions | None = None  # with a road network: snap, merge and score into defects
    anonymise: str = DEFAULT_MODE  # "both", "horizon" or "detect": how faces and plates are masked in stored images
    keep_originals: bool = False  # also keep unmasked frames, in a folder beside the image folder that is never served


@dataclass
class Summary:
    """What a job did and skipped: printed at the end and stored with the survey."""

    footage: str
    gps: str
    survey_id: int | None = None
    already_stored: bool = False
    distance_km: float = 0.0
    frames_read: int = 0
    frames_sampled: int = 0
    frames_skipped: dict[str, int] = field(default_factory=dict)
    gps_skipped: dict[str, int] = field(default_factory=dict)
    detections: dict[str, int] = field(default_factory=dict)
    located: int = 0
    unlocated: int = 0
    defects: dict[str, int] = field(default_factory=dict)  # new, updated, reopened, not re-observed
    network: str | None = None
    anonymised: dict = field(default_factory=dict)  # mode, images, faces, plates masked in the stored images
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def total_detections(self) -> int:
        return sum(self.detections.values())


class _Clock:
    def __init__(self, summary: Summary):
        self.summary = summary

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.summary.seconds[name] += time.perf_counter() - t0


def resolve_model(model: Path | None) -> Path:
    if model is not None:
        return Path(model)
    if SHIPPED_MODEL.exists():
        return SHIPPED_MODEL
    raise ModelError("no detector model given and no shipped model is installed",
                     hint="pass --model WEIGHTS.pt (any local YOLO weights file)")


def read_survey_track(footage: Footage, gps: Path | None) -> Track:
    """The GPS track for the footage: a separate file, or what the footage carries (GPMF, EXIF)."""
    source = gps if gps is not None else footage.info.path
    if gps is None and footage.info.kind == "video" and footage.info.path.suffix.lower() not in {".mp4", ".mov"}:
        raise GPSError("this video carries no GPS that roadscan can read", path=source,
                       hint="pass the track with --gps (GPX, NMEA, CSV)")
    return read_track(source)


def footage_times(footage: Footage, track: Track, opts: ProcessOptions) -> pd.DatetimeIndex:
    """Absolute UTC time of every frame: the given start, else the GPS clock's, else the container's; plus offset.

    A track read from the footage itself (GoPro GPMF, EXIF of the frames) knows the first frame's UTC
    time from GPS; that beats the container's creation_time, which GoPro and many dashcams write in
    local time as if it were UTC.
    """
    start = opts.start_time or getattr(track, "video_start", None) or footage.info.start_time
    if start is None:
        raise FootageError("the footage has no start time in its metadata", path=footage.info.path,
                           hint="give --start-time (UTC, ISO 8601) to align it with the GPS track")
    start = pd.Timestamp(start)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    offsets = pd.to_timedelta(footage.timestamps() + opts.time_offset_s, unit="s")
    return pd.DatetimeIndex(start + offsets)


def check_overlap(times: pd.DatetimeIndex, track: Track, footage_path: Path) -> None:
    if len(times) and (times[-1] < track.start or times[0] > track.end):
        raise GPSError(
            f"the track ({track.start:%Y-%m-%d %H:%M:%S} to {track.end:%H:%M:%S} UTC) does not overlap the "
            f"footage {footage_path.name} ({times[0]:%Y-%m-%d %H:%M:%S} to {times[-1]:%H:%M:%S} UTC)",
            path=track.source, hint="check the files belong together, or shift the footage with --time-offset")


def _detections_table(frame_rows: pd.DataFrame, dets: list) -> pd.DataFrame:
    tables = []
    for (_, row), d in zip(frame_rows.iterrows(), dets):
        if len(d):
            t = d.to_frame()
            t["frame_index"] = row["frame"]
            tables.append(t)
    if not tables:
        return pd.DataFrame(columns=["frame_index", "x1", "y1", "x2", "y2", "confidence", "code", "name"])
    return pd.concat(tables, ignore_index=True)


def process_survey(footage_path: Path, gps_path: Path | None, store: Store, opts: ProcessOptions,
                   *, detector: Detector | None = None, network: RoadNetwork | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> Summary:
    """Run one survey into the store. Raises a RoadscanError, leaving the store as it was, on bad input.

    With a road `network` the observations are also snapped, merged into defects (across surveys)
    and scored, in the same transaction.
    """
    footage_path = Path(footage_path)
    summary = Summary(footage=str(footage_path), gps=str(gps_path or footage_path))
    clock = _Clock(summary)
    camera = load_profile(opts.camera, config=opts.camera_config)
    if opts.anonymise not in ANONYMISE_MODES:
        raise ConfigError(f"unknown anonymisation mode '{opts.anonymise}'", hint=f"use one of: {', '.join(ANONYMISE_MODES)}")

    with open_footage(footage_path) as footage:
        track = read_survey_track(footage, gps_path)
        summary.gps_skipped = dict(track.skipped)
        key = fingerprint(footage_path, *([gps_path] if gps_path else []), extra=f"offset={opts.time_offset_s}")
        existing = find_survey(store, key)
        if existing and not opts.replace:
            summary.survey_id, summary.already_stored = existing["id"], True
            return summary

        with clock.stage("sample"):
            times = footage_times(footage, track, opts)
            check_overlap(times, track, footage_path)
            plan = sample_by_distance(times, track, spacing_m=opts.spacing_m, min_speed_mps=opts.min_speed_mps)
        summary.frames_read = len(plan)
        counts = plan["reason"].value_counts()
        summary.frames_skipped = {str(k): int(v) for k, v in counts.items() if k != "sampled" and v}
        kept = plan[plan["keep"]].reset_index(drop=True)
        summary.frames_sampled = len(kept)
        if len(kept):
            summary.distance_km = float(kept["distance"].iloc[-1] - kept["distance"].iloc[0]) / 1000
        if network is not None:
            lon, lat = track.fixes["lon"], track.fixes["lat"]
            network.check_covers((lon.min(), lat.min(), lon.max(), lat.max()))
            summary.network = str(network.path or "in memory")

        if detector is None:
            detector = load_detector(resolve_model(opts.model), backend=opts.backend, conf=opts.confidence,
                                     imgsz=opts.imgsz, batch=opts.batch)
        cam = camera.for_image(footage.info.width, footage.info.height)
        staged = staging_dir(store)
        originals = originals_dir(store, key).parent / staged.name if opts.keep_originals else None
        try:
            frames_out, obs_out = _detect_and_locate(footage, kept, plan["keep"].to_numpy(), detector, cam,
                                                     track.crs, staged, opts, clock, on_progress, originals)
            obs = pd.concat(obs_out, ignore_index=True) if obs_out else pd.DataFrame()
            summary.detections = dict(Counter(obs["code"])) if len(obs) else {}
            summary.located = int(obs["lat"].notna().sum()) if len(obs) else 0
            summary.unlocated = len(obs) - summary.located
            frames_df = pd.DataFrame(frames_out)
            with clock.stage("store"):
                survey = _survey_row(key, footage, track, gps_path, camera, detector, opts, kept, summary)
                then = None
                if network is not None:
                    mapping = opts.mapping or MappingOptions()
                    accuracy = float(track.fixes["accuracy_m"].median()) if "accuracy_m" in track.fixes else None

                    def then(conn, survey_id, obs_ids):
                        with clock.stage("map"):
                            summary.defects = map_defects(conn, survey_id, obs_ids, stored_obs, frames_df, network,
                                                          mapping, gps_accuracy_m=accuracy)
                stored_obs = _obs_columns(obs)
                summary.survey_id = write_survey(store, survey, frames_df, stored_obs, staged,
                                                 replace=opts.replace, then=then)
                if originals is not None and originals.exists():
                    final = originals_dir(store, key)
                    shutil.rmtree(final, ignore_errors=True)
                    originals.rename(final)
        finally:
            if staged.exists():
                shutil.rmtree(staged, ignore_errors=True)
            if originals is not None and originals.exists():
                shutil.rmtree(originals, ignore_errors=True)
    return summary


def originals_dir(store: Store, fingerprint: str) -> Path:
    """Where `--keep-originals` puts a survey's unmasked frames: beside the image folder, never inside it."""
    return store.images_dir.with_name(store.images_dir.name + "-originals") / f"survey-{fingerprint[:16]}"


def _detect_and_locate(footage, kept, keep_mask, detector, cam, crs, staged, opts, clock, on_progress,
                       originals=None):
    frames_out: list[dict] = []
    anonymiser = Anonymiser(opts.anonymise) if opts.store_images != "none" else None
    masked = clock.summary.anonymised = dict(mode=opts.anonymise, images=0, faces=0, plates=0,
                                             face_detector="mtcnn" if anonymiser and anonymiser.detects_faces else None)
    obs_out: list[pd.DataFrame] = []
    batch_rows: list[dict] = []
    batch_images: list[np.ndarray] = []
    by_index = kept.set_index("frame")

    def flush() -> None:
        with clock.stage("detect"):
            dets = detector.predict(batch_images, frame_indices=[r["frame"] for r in batch_rows])
        with clock.stage("locate"):
            rows = pd.DataFrame(batch_rows)
            table = _detections_table(rows, dets)
            if len(table):
                # offsets in x/y turn from the grid's north, not true north (they differ by up to ~3 degrees)
                pose = rows.set_index("frame")[["x", "y", "grid_heading"]].rename(columns={"grid_heading": "heading"})
                table = table.join(pose, on="frame_index")
                table = pd.concat([table, locate(table, cam, crs)], axis=1)
                obs_out.append(table)
        with clock.stage("store"):
            with_dets = set(table["frame_index"]) if len(table) else set()
            for row, image in zip(batch_rows, batch_images):
                keep_image = opts.store_images == "all" or (opts.store_images == "detections" and row["frame"] in with_dets)
                name = None
                if keep_image:
                    name = f"frame-{row['frame']:06d}.jpg"
                    if originals is not None:
                        originals.mkdir(parents=True, exist_ok=True)
                        Image.fromarray(image).save(originals / name, quality=95)
                    # Only the masked image reaches the store: faces, plates (and the sky band) are filled.
                    result = anonymiser(image, cam.horizon_row)
                    masked["images"] += 1
                    masked["faces"] += result.faces
                    masked["plates"] += result.plates
                    Image.fromarray(result.image).save(staged / name, quality=85)
                frames_out.append(dict(frame_index=int(row["frame"]), time=row["time"], lat=row["lat"],
                                       lon=row["lon"], heading_deg=row["heading"], speed_mps=row["speed"],
                                       distance_m=row["distance"], image_path=name,
                                       width=image.shape[1], height=image.shape[0]))
        batch_rows.clear()
        batch_images.clear()

    done = 0
    decode_t0 = time.perf_counter()
    for frame in footage.frames(keep=keep_mask):
        clock.summary.seconds["decode"] += time.perf_counter() - decode_t0
        row = by_index.loc[frame.index]
        batch_rows.append({"frame": frame.index, **row.to_dict()})
        batch_images.append(frame.image)
        if len(batch_images) >= opts.batch:
            flush()
        done += 1
        if on_progress:
            on_progress(done, len(kept))
        decode_t0 = time.perf_counter()
    clock.summary.seconds["decode"] += time.perf_counter() - decode_t0
    if batch_images:
        flush()
    return frames_out, obs_out


def _obs_columns(obs: pd.DataFrame) -> pd.DataFrame:
    if not len(obs):
        return pd.DataFrame(columns=["frame_index", "code", "name", "confidence", "x1", "y1", "x2", "y2", "lat",
                                     "lon", "forward_m", "right_m", "distance_m", "width_m", "length_m", "heading"])
    obs = obs.copy()
    obs["name"] = obs["code"].map(human_name)
    return obs


def _survey_row(key, footage, track, gps_path, camera, detector, opts, kept, summary) -> dict:
    from shapely import LineString

    coords = kept[["lon", "lat"]].dropna().to_numpy()
    line = LineString(coords).wkt if len(coords) >= 2 else "LINESTRING EMPTY"
    now = datetime.now(timezone.utc)
    start = kept["time"].iloc[0] if len(kept) else track.start
    end = kept["time"].iloc[-1] if len(kept) else track.start
    return dict(
        fingerprint=key,
        name=opts.name or footage.info.path.stem,
        footage_path=str(footage.info.path),
        footage_kind=footage.info.kind,
        gps_path=str(gps_path or footage.info.path),
        gps_format=getattr(track, "format", Path(track.source).suffix.lstrip(".").lower()),
        time_offset_s=opts.time_offset_s,
        camera={k: v for k, v in asdict(camera).items()},
        model=getattr(detector, "name", type(detector).__name__),
        started_at=pd.Timestamp(start).to_pydatetime(),
        ended_at=pd.Timestamp(end).to_pydatetime(),
        processed_at=now,
        distance_m=summary.distance_km * 1000,
        track_wkt=line,
        frames_read=summary.frames_read,
        frames_sampled=summary.frames_sampled,
        detections=summary.total_detections,
        summary=asdict(summary),
    )

