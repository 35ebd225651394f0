"""`roadscan anonymise`: mask faces and number plates in the images of an existing store.

For stores written before the pipeline anonymised frames as it stored them. Every image file in a
survey's image folder is masked in place (written to a scratch file, then renamed over the original,
so a crash leaves whole files); the survey's stored summary then records `anonymised` (mode,
counts, when), which makes a second run skip the survey. The horizon row comes from the camera
profile stored with the survey, scaled to each image's size.

Crews' photos uploaded before uploads were masked (their `anonymised` is NULL) are masked the same
way, by detection only (a photo has no camera profile), and each then records its own `anonymised`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from roadscan.api.store.anonymisation import record_photo_masked, survey_records, unmasked_photos, write_survey_summary
from roadscan.api.store.database import Store
from roadscan.api.store.surveys import survey_image_dir
from roadscan.detector.anonymise import DEFAULT_MODE, MODES, Anonymiser, PhotoMasker
from roadscan.core.errors import ConfigError
from roadscan.geo.camera import CameraProfile

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def covers(done: dict | None, mode: str) -> bool:
    """Whether a survey anonymised in `done["mode"]` already satisfies `mode` ("both" satisfies all)."""
    return bool(done) and done.get("mode") in (mode, "both")


def _camera(value) -> CameraProfile | None:
    try:
        data = json.loads(value) if isinstance(value, str) else dict(value or {})
        names = {f.name for f in fields(CameraProfile)}
        return CameraProfile(**{k: v for k, v in data.items() if k in names})
    except (TypeError, ValueError, ConfigError):  # a camera stored before profiles were checked
        return None


def _replace(path: Path, data: bytes) -> None:
    """Write `data` over `path` through a scratch file, so that a crash leaves either file whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def anonymise_image(path: Path, anonymiser: Anonymiser, camera: CameraProfile | None) -> tuple[int, int]:
    """Mask one image file in place; returns (faces, plates) masked."""
    with Image.open(path) as im:
        image = np.asarray(im.convert("RGB"))
        fmt = im.format or "JPEG"
    h, w = image.shape[:2]
    horizon = camera.for_image(w, h).horizon_row if camera is not None else None
    if horizon is None and anonymiser.mode != "detect":
        horizon = h / 2  # no camera stored: the conservative guess masks the upper half
    result = anonymiser(image, horizon)
    buf = io.BytesIO()
    Image.fromarray(result.image).save(buf, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    _replace(path, buf.getvalue())
    return result.faces, result.plates


def anonymise_store(store: Store, mode: str = DEFAULT_MODE, *, force: bool = False,
                    on_progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Mask every survey's images not yet anonymised in `mode`, then the photos not yet anonymised; one
    report row per survey, and rows for the photos masked (or found unreadable) in this run."""
    if mode not in MODES:
        raise ConfigError(f"unknown anonymisation mode '{mode}'", hint=f"use one of: {', '.join(MODES)}")
    anonymiser: Anonymiser | None = None
    report = []
    for row in survey_records(store):
        summary = json.loads(row["summary"] or "{}")
        done = summary.get("anonymised")
        folder = survey_image_dir(store, row["fingerprint"])
        if covers(done, mode) and not force:
            report.append(dict(survey_id=row["id"], name=row["name"], status="already anonymised",
                               mode=done["mode"], images=done.get("images", 0), faces=done.get("faces", 0),
                               plates=done.get("plates", 0)))
            continue
        anonymiser = anonymiser or Anonymiser(mode)
        camera = _camera(row["camera"])
        files = sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) \
            if folder.is_dir() else []
        faces = plates = 0
        for i, path in enumerate(files):
            f, p = anonymise_image(path, anonymiser, camera)
            faces, plates = faces + f, plates + p
            if on_progress:
                on_progress(i + 1, len(files))
        record = dict(mode=mode, images=len(files), faces=faces, plates=plates,
                      face_detector="mtcnn" if anonymiser.detects_faces else None,
                      at=datetime.now(timezone.utc).isoformat(timespec="seconds"), by="roadscan anonymise")
        summary["anonymised"] = record
        write_survey_summary(store, row["id"], summary)
        report.append(dict(survey_id=row["id"], name=row["name"], status="anonymised", mode=mode,
                           images=len(files), faces=faces, plates=plates))
    return report + anonymise_photos(store, on_progress)


def anonymise_photos(store: Store, on_progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Mask in place the photos stored before uploads were masked; report rows, none when there were none."""
    rows = unmasked_photos(store)
    if not rows:
        return []
    try:
        masker = PhotoMasker()
    except ImportError as exc:
        raise ConfigError(f"cannot mask the {len(rows)} photos stored before uploads were anonymised: {exc}") from None
    results = []
    for i, (photo_id, path) in enumerate(rows):
        results.append(_mask_photo(store, masker, photo_id, path))
        if on_progress:
            on_progress(i + 1, len(rows))
    done = [r for r in results if r is not None]
    row = dict(survey_id=None, name="crews' photos", mode=PhotoMasker.mode)
    out = [dict(row, status="anonymised", images=len(done), faces=sum(r.faces for r in done),
                plates=sum(r.plates for r in done))] if done else []
    if len(done) < len(rows):  # left un-anonymised, so never served
        out.append(dict(row, status="unreadable or missing (not served)", images=len(rows) - len(done), faces=0,
                        plates=0))
    return out


def _mask_photo(store: Store, masker: PhotoMasker, photo_id: int, relative: str):
    """Mask one photo in place and record that; what was masked, or None when it cannot be read."""
    path = store.image_file(relative)
    if path is None:
        return None
    try:
        result = masker(path.read_bytes())
    except ValueError:
        return None
    _replace(path, result.data)
    record = dict(mode=result.mode, faces=result.faces, plates=result.plates,
                  at=datetime.now(timezone.utc).isoformat(timespec="seconds"), by="roadscan anonymise")
    record_photo_masked(store, photo_id, size=len(result.data), width=result.width, height=result.height, record=record)
    return result
