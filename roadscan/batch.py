"""Many drives in one run: a folder or a manifest of drives, each stored as its own survey.

`roadscan process` takes, besides one footage, a folder of drives (footage and GPS paired by file
name: drive1.mp4 + drive1.gpx; a GoPro MP4 carries its own GPS) or a manifest listing them (CSV,
TOML or YAML: footage, gps, time_offset, camera, name, start_time per drive). `run_batch` runs them
one after another on this machine, or with `workers` / `ray_address` as a Ray Data pipeline
(roadscan/ray_pipeline.py). Either way each drive is one survey in one transaction, a drive already
stored (by its fingerprint) is skipped before any work, and a drive that fails (damaged video, a GPS
log that misses the footage) is reported with its reason while the others go on: running the batch
again completes only what is missing.
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from roadscan.api.store.database import Store
from roadscan.core.errors import ConfigError, RoadscanError
from roadscan.detector.backends import Detector
from roadscan.geo.roads import RoadNetwork
from roadscan.pipeline import ProcessOptions, Summary, make_detector, process_survey

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".m4v", ".360"}
IMAGE_SUFFIXES = {".jpg", ".jpeg"}
GPS_SUFFIXES = (".gpx", ".nmea", ".nma", ".csv", ".tsv")  # in this order of preference beside a footage
MANIFEST_SUFFIXES = {".csv": "csv", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}

STORED, ALREADY, FAILED = "stored", "already stored", "failed"


@dataclass(frozen=True)
class Drive:
    """One drive of a batch: its footage, GPS and what differs from the batch's options."""

    footage: Path
    gps: Path | None = None
    time_offset_s: float | None = None
    camera: str | None = None
    name: str | None = None
    start_time: datetime | None = None

    @property
    def label(self) -> str:
        return self.name or self.footage.name

    def options(self, base: ProcessOptions) -> ProcessOptions:
        """The batch's options with this drive's own camera, clock offset, start time and name."""
        own = {"time_offset_s": self.time_offset_s, "camera": self.camera, "name": self.name,
               "start_time": self.start_time}
        return dataclasses.replace(base, **{k: v for k, v in own.items() if v is not None})


@dataclass
class DriveResult:
    """What became of one drive: stored (with its summary), already stored, or failed (with the reason)."""

    drive: Drive
    status: str
    summary: Summary | None = None
    error: str | None = None

    @property
    def frames(self) -> int:
        return self.summary.frames_sampled if self.summary and self.status == STORED else 0


class _Entry(BaseModel):
    """A manifest's row, checked: unknown keys and wrong types are refused by name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    footage: str
    gps: str | None = None
    time_offset: float | None = None
    camera: str | None = None
    name: str | None = None
    start_time: datetime | None = None


def read_manifest(path: Path) -> list[Drive]:
    """The drives a manifest lists; paths relative to the manifest's folder. ConfigError names the entry."""
    kind = MANIFEST_SUFFIXES.get(path.suffix.lower())
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the manifest ({exc})", path=path) from None
    try:
        if kind == "csv":
            rows: Any = [{k.strip(): (v or None) for k, v in row.items() if k} for row in csv.DictReader(text.splitlines())]
        elif kind == "toml":
            data = tomllib.loads(text)
            rows = data.get("drive", data.get("drives"))
        else:
            data = yaml.safe_load(text)
            rows = data.get("drives") if isinstance(data, dict) else data
    except (tomllib.TOMLDecodeError, yaml.YAMLError, csv.Error) as exc:
        raise ConfigError(f"the manifest is not valid {kind.upper()} ({exc})", path=path) from None
    if not isinstance(rows, list) or not rows:
        raise ConfigError("the manifest lists no drives", path=path,
                          hint="CSV: a header 'footage,gps,time_offset,camera,name' and a row per drive; "
                               "TOML: [[drive]] tables; YAML: a list (or 'drives:') of mappings with footage and gps")
    drives = []
    for number, row in enumerate(rows, start=1):
        try:
            entry = _Entry.model_validate(row)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"drive {number} of the manifest: {problems}", path=path) from None
        drives.append(Drive(footage=_beside(path, entry.footage), gps=_beside(path, entry.gps) if entry.gps else None,
                            time_offset_s=entry.time_offset, camera=entry.camera, name=entry.name,
                            start_time=entry.start_time))
    return drives


def _beside(manifest: Path, name: str) -> Path:
    p = Path(name).expanduser()
    return p if p.is_absolute() else manifest.parent / p


def read_folder(folder: Path) -> list[Drive]:
    """The drives in a folder: each video, and each subfolder of JPEG frames, with the GPS log of the same
    name beside it (drive1.mp4 + drive1.gpx); without one, the footage's own GPS (GoPro GPMF, EXIF)."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    gps_by_stem: dict[str, Path] = {}
    for suffix in reversed(GPS_SUFFIXES):
        gps_by_stem.update({p.stem: p for p in entries if p.is_file() and p.suffix.lower() == suffix})
    footage = [p for p in entries if (p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
               or (p.is_dir() and any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir()))]
    if not footage:
        raise ConfigError("no drives in this folder: no video files (MP4, MOV, AVI, MKV) and no folders of "
                          "JPEG frames", path=folder, hint="put each drive's footage with its GPS log of the same "
                                                           "name there, or list the drives in a manifest")
    return [Drive(footage=p, gps=gps_by_stem.get(p.stem)) for p in footage]


def drives_from(path: Path) -> list[Drive] | None:
    """The drives `roadscan process PATH` names: a manifest or a folder of drives; None for one footage
    (a video, a JPEG, or a folder holding JPEG frames itself)."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        return read_manifest(path)
    if path.is_dir() and not any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
        return read_folder(path)
    return None


class BatchEvents:
    """What a batch reports as it goes (the command shows it as progress); does nothing by default."""

    def frames(self, done: int, total: int) -> None:
        """Sampled frames detected so far in the whole batch, of those planned so far."""

    def drive(self, result: DriveResult) -> None:
        """One drive finished: stored, already stored or failed."""


def run_batch(drives: list[Drive], store: Store, opts: ProcessOptions, *, network: RoadNetwork | None = None,
              workers: int | None = None, ray_address: str | None = None, detector: Detector | None = None,
              events: BatchEvents | None = None) -> list[DriveResult]:
    """Every drive into the store, each its own survey; returns what became of each, in the given order.

    With neither `workers` nor `ray_address`, one drive after another on this machine (`detector`, or
    the options' model loaded once); otherwise on Ray (roadscan.ray_pipeline, `roadscan[scale]`).
    """
    events = events or BatchEvents()
    if workers is None and ray_address is None:
        return _run_sequential(drives, store, opts, network, detector, events)
    from roadscan.ray_pipeline import run_on_ray

    return run_on_ray(drives, store, opts, network=network, workers=workers, address=ray_address, events=events)


def reason(exc: BaseException) -> str:
    """Why a drive failed, in the words the command prints (a RoadscanError names the file and the problem)."""
    return str(exc) if isinstance(exc, RoadscanError) else f"unexpected {type(exc).__name__}: {exc}"


def failure(drive: Drive, exc: BaseException) -> DriveResult:
    """A drive that could not be stored, with the reason."""
    return DriveResult(drive, FAILED, error=reason(exc))


def _run_sequential(drives, store, opts, network, detector, events: BatchEvents) -> list[DriveResult]:
    results, done_frames, planned = [], 0, 0
    for drive in drives:
        def progress(done: int, total: int) -> None:
            events.frames(done_frames + done, planned + total)

        try:
            if detector is None:
                detector = make_detector(opts)  # once, for every drive; a bad model fails the batch here
            summary = process_survey(drive.footage, drive.gps, store, drive.options(opts), detector=detector,
                                     network=network, on_progress=progress)
            result = DriveResult(drive, ALREADY if summary.already_stored else STORED, summary)
        except (RoadscanError, RuntimeError, ValueError, OSError) as exc:
            if detector is None:
                raise
            result = failure(drive, exc)
        done_frames += result.frames
        planned = done_frames
        results.append(result)
        events.drive(result)
    return results


def totals(results: list[DriveResult]) -> dict[str, int]:
    """How many drives ended how, for the closing line."""
    return {status: sum(r.status == status for r in results) for status in (STORED, ALREADY, FAILED)}

