"""The survey job: footage + GPS -> sampled frames -> detections -> ground positions -> store.

This is the only place where detector/ and geo/ meet; they exchange plain tables (pandas frames and
the Detections value type, columns in core.tables), never each other's objects. `process_survey`
reads as the sequence it runs: track, frame plan, detection and location (`FrameProcessor`), then
one transaction (`_write`) in which geo/ computes the defect changes from what the store holds near
the survey and the store applies them.
"""

from __future__ import annotations

import io
import math
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

from roadscan.api.store.database import Store, WriteConflict, database_errors
from roadscan.api.store.staging import ImageStaging
from roadscan.api.store.surveys import find_survey, survey_transaction
from roadscan.core.changes import DefectCounts
from roadscan.core.classes import human_name
from roadscan.core.errors import ConfigError, FootageError, GPSError, ModelError, StoreError
from roadscan.core.tables import FRAME_COLUMNS, OBSERVATION_COLUMNS
from roadscan.detector.anonymise import DEFAULT_MODE, MODES as ANONYMISE_MODES, Anonymiser
from roadscan.detector.backends import Detector, load_detector
from roadscan.detector.footage import Footage, FootageInfo, open_footage
from roadscan.detector.models import shipped_model
from roadscan.detector.thresholds import operating_point
from roadscan.fingerprint import fingerprint
from roadscan.geo.camera import CameraProfile
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.condition import condition_table
from roadscan.geo.defect_changes import MappingOptions, plan_defect_changes, search_bbox
from roadscan.geo.gps import read_track
from roadscan.geo.plausibility import place
from roadscan.geo.roads import RoadNetwork
from roadscan.geo.sampling import sample_by_distance
from roadscan.geo.track import Track

STAGES = ("decode", "sample", "detect", "locate", "map", "store")
STORE_IMAGES = ("detections", "all", "none")
MAX_TIME_OFFSET_S = 100 * 365.25 * 86400  # a camera clock a century off is no clock; pandas times end in 2262


@dataclass
class ProcessOptions:
    """Everything about a job that is not the input files."""

    camera: str = "dashcam"
    camera_config: Path | None = None
    model: Path | None = None
    backend: str | None = None  # None: from the weights' suffix (.onnx -> ONNX Runtime, .pt -> ultralytics)
    confidence: float | None = None  # one flat cut for every class; None: the model's per-class thresholds
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

    def __post_init__(self) -> None:
        """Every number finite and physically sensible, every choice known: refused before any work."""
        _in_range("--spacing", self.spacing_m, 0.05, 1000, "metres between sampled frames")
        if self.confidence is not None:
            _in_range("--confidence", self.confidence, 0, 1, "a detection confidence")
        _in_range("--imgsz", self.imgsz, 32, 8192, "pixels")
        _in_range("--batch", self.batch, 1, 1024, "frames")
        _in_range("--time-offset", self.time_offset_s, -MAX_TIME_OFFSET_S, MAX_TIME_OFFSET_S,
                  "seconds (within 100 years)")
        _in_range("minimum speed", self.min_speed_mps, 0, 100, "m/s")
        if self.mapping is not None:
            _in_range("--snap-tolerance", self.mapping.tolerance_m, 0.1, 1000, "metres")
        if self.store_images not in STORE_IMAGES:
            raise ConfigError(f"--store-images must be {', '.join(STORE_IMAGES[:-1])} or {STORE_IMAGES[-1]}, "
                              f"not '{self.store_images}'")
        if self.anonymise not in ANONYMISE_MODES:
            raise ConfigError(f"unknown anonymisation mode '{self.anonymise}'",
                              hint=f"use one of: {', '.join(ANONYMISE_MODES)}")


def _in_range(option: str, value: float, low: float, high: float, unit: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{option} must be a finite number from {low:g} to {high:g} {unit}, got {value}")


@dataclass
class AnonymisedCounts:
    """How the stored images were anonymised: stored with the survey, read by `roadscan anonymise`."""

    mode: str
    images: int = 0
    faces: int = 0
    plates: int = 0
    face_detector: str | None = None

    def add(self, faces: int, plates: int) -> None:
        self.images, self.faces, self.plates = self.images + 1, self.faces + faces, self.plates + plates


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
    implausible: dict[str, int] = field(default_factory=dict)  # boxes no road defect could make, dropped (geo.plausibility)
    confidence: str = ""  # the confidence cut the detector applied: per class from the model, or one flat value
    defects: DefectCounts = field(default_factory=DefectCounts)
    network: str | None = None
    anonymised: AnonymisedCounts | None = None  # what was masked in the stored images
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
    shipped = shipped_model("onnx")
    if shipped is not None:
        return shipped
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
    try:
        offsets = pd.to_timedelta(footage.timestamps() + opts.time_offset_s, unit="s")
        times = pd.DatetimeIndex(start + offsets)
    except (OverflowError, ValueError) as exc:  # pandas' OutOfBounds errors are ValueErrors
        raise FootageError(f"the footage's times fall outside the years pandas can hold ({exc})",
                           path=footage.info.path, hint="check --start-time and --time-offset") from None
    # Microseconds, as the store and Python's datetime hold them (finer parts would be dropped with a warning).
    return times.round("us")


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


def plan_frames(footage: Footage, track: Track, opts: ProcessOptions, summary: Summary) -> pd.DataFrame:
    """Every frame with its time, pose and whether it is sampled (geo.sampling); counts go to the summary."""
    times = footage_times(footage, track, opts)
    check_overlap(times, track, footage.info.path)
    plan = sample_by_distance(times, track, spacing_m=opts.spacing_m, min_speed_mps=opts.min_speed_mps)
    summary.frames_read = len(plan)
    counts = plan["reason"].value_counts()
    summary.frames_skipped = {str(k): int(v) for k, v in counts.items() if k != "sampled" and v}
    kept = plan[plan["keep"]]
    summary.frames_sampled = len(kept)
    if not len(kept):
        why = ", ".join(f"{n} {reason}" for reason, n in summary.frames_skipped.items()) or "no frames"
        raise FootageError(f"no frame to survey: none of its {len(plan)} frames was sampled ({why})",
                           path=footage.info.path,
                           hint=f"a survey needs the vehicle to move at least --spacing ({opts.spacing_m:g} m) "
                                "while the footage and the GPS track overlap")
    summary.distance_km = float(kept["distance"].iloc[-1] - kept["distance"].iloc[0]) / 1000
    return plan


def survey_fingerprint(footage_path: Path, gps_path: Path | None, opts: ProcessOptions) -> str:
    """The survey's identity in the store: footage + GPS + time offset (the same drive twice is one survey)."""
    return fingerprint(footage_path, *([gps_path] if gps_path else []), extra=f"offset={opts.time_offset_s}")


def make_detector(opts: ProcessOptions, *, device: str = "cpu") -> Detector:
    """The detector the options name (the shipped model by default)."""
    return load_detector(resolve_model(opts.model), backend=opts.backend, conf=opts.confidence, imgsz=opts.imgsz,
                         batch=opts.batch, device=device)


def model_name(detector: Detector) -> str:
    return getattr(detector, "name", type(detector).__name__)


@dataclass
class PlannedSurvey:
    """A drive read and planned (`plan_survey`): what detection needs, and the summary it fills.

    `plan` is None when the drive is already stored (and not to be replaced): nothing is left to do.
    """

    footage: FootageInfo
    gps_path: Path | None
    opts: ProcessOptions
    profile: CameraProfile  # as named (stored with the survey)
    camera: CameraProfile  # for the footage's image size
    track: Track
    key: str
    summary: Summary
    clock: _Clock
    plan: pd.DataFrame | None = None

    @property
    def kept(self) -> pd.DataFrame:
        """The sampled frames, in order: the ones detection sees."""
        return self.plan[self.plan["keep"]].reset_index(drop=True)


def plan_survey(footage: Footage, gps_path: Path | None, store: Store, opts: ProcessOptions, profile: CameraProfile,
                *, network: RoadNetwork | None = None) -> PlannedSurvey:
    """Read the track, recognise a drive already stored (by its fingerprint), plan the frames.

    Raises a RoadscanError on bad input (a track that misses the footage, a network that misses the
    track) before any frame is decoded.
    """
    path = footage.info.path
    summary = Summary(footage=str(path), gps=str(gps_path or path))
    clock = _Clock(summary)
    track = read_survey_track(footage, gps_path)
    summary.gps_skipped = dict(track.skipped)
    key = survey_fingerprint(path, gps_path, opts)
    survey = PlannedSurvey(footage.info, gps_path, opts, profile, profile.for_image(footage.info.width,
                           footage.info.height), track, key, summary, clock)
    existing = find_survey(store, key)
    if existing and not opts.replace:
        summary.survey_id, summary.already_stored = existing["id"], True
        return survey
    with clock.stage("sample"):
        survey.plan = plan_frames(footage, track, opts, summary)
    if network is not None:
        lon, lat = track.fixes["lon"], track.fixes["lat"]
        network.check_covers((lon.min(), lat.min(), lon.max(), lat.max()))
        summary.network = str(network.path or "in memory")
    return survey


def process_survey(footage_path: Path, gps_path: Path | None, store: Store, opts: ProcessOptions,
                   *, detector: Detector | None = None, network: RoadNetwork | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> Summary:
    """Run one survey into the store. Raises a RoadscanError, leaving the store as it was, on bad input.

    Read the track and plan the frames (`plan_survey`), detect and locate while staging the images
    (`FrameProcessor`); then in one transaction write the survey and, with a road `network`, its
    defects (`store_survey`). A batch of drives on Ray (roadscan/ray_pipeline.py) runs the same steps.
    """
    footage_path = Path(footage_path)
    profile = load_profile(opts.camera, config=opts.camera_config)
    with open_footage(footage_path) as footage, database_errors(store.location):
        survey = plan_survey(footage, gps_path, store, opts, profile, network=network)
        if survey.plan is None:
            return survey.summary
        if detector is None:
            detector = make_detector(opts)
        survey.summary.confidence = operating_point(detector)
        with ImageStaging(store, survey.key, keep_originals=opts.keep_originals) as staging:
            capture = FrameProcessor(detector, survey.camera, survey.track.crs, opts).run(
                footage, survey.plan, survey.clock, staging, on_progress)
            store_survey(store, survey, capture, staging, model_name(detector), network)
            staging.publish_originals()
    return survey.summary


def store_survey(store: Store, survey: PlannedSurvey, capture: Capture, staging: ImageStaging, model: str,
                 network: RoadNetwork | None) -> int:
    """The survey's counts into its summary, then its one transaction (`_write`); returns the survey id.

    A survey of the same fingerprint stored meanwhile by another run is a StoreError naming it: nothing
    is added twice.
    """
    summary, opts = survey.summary, survey.opts
    summary.anonymised = capture.anonymised
    obs = capture.observations
    summary.detections = dict(Counter(obs["code"])) if len(obs) else {}
    summary.located = int(obs["lat"].notna().sum()) if len(obs) else 0
    summary.unlocated = len(obs) - summary.located
    summary.implausible = dict(capture.implausible)
    row = _survey_row(survey.key, survey.footage, survey.track, survey.gps_path, survey.profile, model, opts,
                      survey.plan[survey.plan["keep"]], summary)
    accuracy = float(survey.track.fixes["accuracy_m"].median()) if "accuracy_m" in survey.track.fixes else None
    try:
        with database_errors(store.location):
            summary.survey_id = _write(store, row, capture, staging, network, opts, survey.clock, accuracy)
    except WriteConflict:
        other = None if opts.replace else find_survey(store, survey.key)
        if other is None:  # not the fingerprint: a constraint this run broke is a bug, not the user's doing
            raise
        raise StoreError(f"another run stored this footage as survey {other['id']} while this one was "
                         "processing it; nothing was added", path=survey.footage.path,
                         hint="run one survey of a footage at a time; `roadscan surveys` lists what is "
                              "stored") from None
    return summary.survey_id


def _write(store: Store, survey: dict, capture: Capture, staging: ImageStaging, network: RoadNetwork | None,
           opts: ProcessOptions, clock: _Clock, gps_accuracy_m: float | None) -> int:
    """One transaction: the survey's rows, then its defects merged against those stored near it.

    Every read is bounded by the survey's area: the defects in its search box (lat/lon index), the
    coverage and open defects of the segments it touched (segment indexes), so a store of a million
    defects elsewhere costs what an empty one does (bench/ingest.py, tests/test_ingest_bounded.py).
    """
    with clock.stage("store"), survey_transaction(store, survey, capture.frames, capture.observations,
                                                  staging.images, replace=opts.replace) as tx:
        if network is None:
            return tx.survey_id
        with clock.stage("map"):
            mapping = opts.mapping or MappingOptions()
            known = tx.defects_near(search_bbox(capture.frames))
            changes = plan_defect_changes(capture.observations, capture.frames, known, network, mapping,
                                          survey_id=tx.survey_id, gps_accuracy_m=gps_accuracy_m)
            tx.apply(changes)
            rated = network.segments[network.segments["segment_id"].isin(set(changes.rate_segments))]
            tx.replace_condition(condition_table(rated, tx.active_defects_on(changes.rate_segments),
                                                 tx.coverage_on(changes.rate_segments), scoring=mapping.scoring))
            clock.summary.defects = changes.counts()
        return tx.survey_id


@dataclass
class Capture:
    """What detection produced for the store: sampled frames and placed observations, images staged."""

    frames: pd.DataFrame  # FRAME_COLUMNS
    observations: pd.DataFrame  # OBSERVATION_COLUMNS + the frame's heading, in the order they are stored
    anonymised: AnonymisedCounts
    implausible: dict[str, int] = field(default_factory=dict)  # boxes dropped by geo.plausibility, per reason


@dataclass
class FrameBatch:
    """One detector batch done: frame rows, placed observations, masked images encoded (not yet written).

    Plain values only, so a batch detected in another process (a Ray actor) travels to the survey's writer.
    """

    frames: list[dict]  # FRAME_COLUMNS; image_path is the file name in the survey's folder, or None
    observations: pd.DataFrame | None
    images: dict[str, bytes] = field(default_factory=dict)  # masked JPEGs by file name
    originals: dict[str, bytes] = field(default_factory=dict)  # unmasked JPEGs (--keep-originals)
    faces: int = 0
    plates: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # detect, locate, store (masking and encoding)
    implausible: dict[str, int] = field(default_factory=dict)  # boxes dropped by geo.plausibility, per reason


class CaptureBuilder:
    """A survey's batches gathered for its writer: images into the staging folder, rows kept in order."""

    def __init__(self, staging: ImageStaging, anonymised: AnonymisedCounts):
        self.staging, self.anonymised = staging, anonymised
        self.frames: list[dict] = []
        self.observations: list[pd.DataFrame] = []
        self.implausible: Counter = Counter()

    def add(self, batch: FrameBatch, clock: _Clock) -> None:
        with clock.stage("store"):
            for name, data in batch.images.items():
                _write_image(data, self.staging.images / name)
            if self.staging.originals is not None:
                for name, data in batch.originals.items():
                    _write_image(data, self.staging.originals / name)
        self.anonymised.images += len(batch.images)
        self.anonymised.faces += batch.faces
        self.anonymised.plates += batch.plates
        self.frames += batch.frames
        self.implausible.update(batch.implausible)
        if batch.observations is not None and len(batch.observations):
            self.observations.append(batch.observations)

    def capture(self) -> Capture:
        frames = sorted(self.frames, key=lambda f: f["frame_index"])  # batches of other processes come in any order
        obs = pd.concat(self.observations, ignore_index=True) if self.observations else pd.DataFrame()
        if len(obs):
            obs = obs.sort_values("frame_index", kind="stable", ignore_index=True)
        return Capture(pd.DataFrame(frames, columns=FRAME_COLUMNS), _observation_table(obs), self.anonymised,
                       dict(self.implausible))


class FrameProcessor:
    """Sampled frames through the detector in batches, boxes onto the ground, masked frames encoded.

    Only masked images reach the staging folder (faces, plates and the sky band filled); the unmasked
    original goes to its own folder only with --keep-originals. `process` is one batch, the same for
    the single-machine run (`run`) and a Ray actor.
    """

    def __init__(self, detector: Detector, camera: CameraProfile, crs: str, opts: ProcessOptions,
                 *, anonymiser: Anonymiser | None = None):
        self.detector, self.camera, self.crs, self.opts = detector, camera, crs, opts
        self.anonymiser = None if opts.store_images == "none" else anonymiser or Anonymiser(opts.anonymise)

    def anonymised_counts(self) -> AnonymisedCounts:
        return AnonymisedCounts(mode=self.opts.anonymise, face_detector="mtcnn" if self.anonymiser
                                and self.anonymiser.detects_faces else None)

    def run(self, footage: Footage, plan: pd.DataFrame, clock: _Clock, staging: ImageStaging,
            on_progress: Callable[[int, int], None] | None = None) -> Capture:
        kept = plan[plan["keep"]].reset_index(drop=True)
        by_index = kept.set_index("frame")
        builder = CaptureBuilder(staging, self.anonymised_counts())
        rows: list[dict] = []
        images: list[np.ndarray] = []
        done = 0
        decode_t0 = time.perf_counter()
        for frame in footage.frames(keep=plan["keep"].to_numpy()):
            clock.summary.seconds["decode"] += time.perf_counter() - decode_t0
            rows.append({"frame": frame.index, **by_index.loc[frame.index].to_dict()})
            images.append(frame.image)
            if len(images) >= self.opts.batch:
                builder.add(self.process(rows, images, clock), clock)
                rows, images = [], []
            done += 1
            if on_progress:
                on_progress(done, len(kept))
            decode_t0 = time.perf_counter()
        clock.summary.seconds["decode"] += time.perf_counter() - decode_t0
        if images:
            builder.add(self.process(rows, images, clock), clock)
        return builder.capture()

    def process(self, rows: list[dict], images: list[np.ndarray], clock: _Clock | None = None) -> FrameBatch:
        """Detect, locate and mask one batch of frames (`rows`: their plan rows, with `frame`)."""
        seconds = dict.fromkeys(("detect", "locate", "store"), 0.0)

        @contextmanager
        def stage(name: str) -> Iterator[None]:
            t0 = time.perf_counter()
            try:
                yield
            finally:
                seconds[name] += time.perf_counter() - t0
                if clock is not None:
                    clock.summary.seconds[name] += time.perf_counter() - t0

        with stage("detect"):
            dets = self.detector.predict(images, frame_indices=[r["frame"] for r in rows])
        with stage("locate"):
            poses = pd.DataFrame(rows)
            table = _detections_table(poses, dets)
            implausible: dict[str, int] = {}
            if len(table):
                # offsets in x/y turn from the grid's north, not true north (they differ by up to ~3 degrees)
                pose = poses.set_index("frame")[["x", "y", "grid_heading"]].rename(columns={"grid_heading": "heading"})
                table = table.join(pose, on="frame_index")
                table, implausible = place(table, self.camera, self.crs)  # boxes no road defect makes dropped
        batch = FrameBatch(frames=[], observations=table if len(table) else None, seconds=seconds,
                           implausible=implausible)
        with stage("store"):
            with_dets = set(table["frame_index"]) if len(table) else set()
            for row, image in zip(rows, images):
                keep = self.opts.store_images == "all" or (self.opts.store_images == "detections"
                                                           and row["frame"] in with_dets)
                batch.frames.append(dict(frame_index=int(row["frame"]), time=row["time"], lat=row["lat"],
                                         lon=row["lon"], heading_deg=row["heading"], speed_mps=row["speed"],
                                         distance_m=row["distance"],
                                         image_path=self._encode_image(batch, row["frame"], image) if keep else None,
                                         width=image.shape[1], height=image.shape[0]))
        return batch

    def _encode_image(self, batch: FrameBatch, frame_index: int, image: np.ndarray) -> str:
        name = f"frame-{frame_index:06d}.jpg"
        if self.opts.keep_originals:
            batch.originals[name] = _jpeg(image, quality=95)
        result = self.anonymiser(image, self.camera.horizon_row)
        batch.faces, batch.plates = batch.faces + result.faces, batch.plates + result.plates
        batch.images[name] = _jpeg(result.image, quality=85)
        return name


def _jpeg(image: np.ndarray, *, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _write_image(data: bytes, path: Path) -> None:
    """Write a frame image; a full disk (or a file size limit) is the user's to fix, named with the file.

    Encoded in memory and written in one call: Pillow saving to a file that hits the size limit left
    a cut-off JPEG and raised nothing.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise StoreError(f"cannot write a frame image ({exc.strerror or exc}); nothing was stored", path=path,
                         hint="free some disk space beside the store (or pass --store-images none) and run again"
                         ) from None


def _observation_table(obs: pd.DataFrame) -> pd.DataFrame:
    if not len(obs):
        return pd.DataFrame(columns=[*OBSERVATION_COLUMNS, "heading"])
    obs = obs.copy()
    obs["name"] = obs["code"].map(human_name)
    return obs


def _survey_row(key: str, info: FootageInfo, track: Track, gps_path: Path | None, camera: CameraProfile, model: str,
                opts: ProcessOptions, kept: pd.DataFrame, summary: Summary) -> dict:
    from shapely import LineString

    coords = kept[["lon", "lat"]].dropna().to_numpy()
    line = LineString(coords).wkt if len(coords) >= 2 else "LINESTRING EMPTY"
    now = datetime.now(timezone.utc)
    start = kept["time"].iloc[0] if len(kept) else track.start
    end = kept["time"].iloc[-1] if len(kept) else track.start
    return dict(
        fingerprint=key,
        name=opts.name or info.path.stem,
        footage_path=str(info.path),
        footage_kind=info.kind,
        gps_path=str(gps_path or info.path),
        gps_format=getattr(track, "format", Path(track.source).suffix.lstrip(".").lower()),
        time_offset_s=opts.time_offset_s,
        camera={k: v for k, v in asdict(camera).items()},
        model=model,
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

