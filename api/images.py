"""Evidence images: the frame that shows a defect best, looked up by the defect's id only.

The path comes from the store, never from the request, and is resolved inside the store's image
folder; anything that would lead outside it (a tampered row, a symbolic link) is refused as missing.

Only anonymised images are served: the pipeline masks faces and number plates before a frame is
written, and records that in the survey's summary (`anonymised`); a survey without that record (a
store made before anonymisation) has its images refused until `roadscan anonymise` has run on it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from PIL import Image, ImageDraw

from roadscan.api.auth import AUTH_ERRORS, Principal, Reader
from roadscan.api.ogc.errors import ExceptionBody, not_found
from roadscan.api.ogc.params import RowId
from roadscan.api.store.database import Store
from roadscan.api.store.evidence import evidence_frame

router = APIRouter(tags=["Maintenance"], responses={**AUTH_ERRORS,
                                                    404: {"model": ExceptionBody, "description": "no image"}})


def resolve_image(store: Store, relative: str | None) -> Path:
    """The file a stored relative path names, if it lies inside the image folder and exists; else 404."""
    if not relative:
        raise not_found("no image stored")
    path = store.image_file(relative)
    if path is None:
        raise not_found("the image is not in the store's image folder")
    return path


def is_anonymised(summary: str | None) -> bool:
    """Whether a survey's stored summary records that its images were anonymised."""
    try:
        return bool(json.loads(summary or "{}").get("anonymised"))
    except (ValueError, AttributeError):
        return False


def evidence(store: Store, defect_id: int):
    """(image path, box) of the defect's evidence observation; 404 when the defect or its image is missing."""
    frame = evidence_frame(store, defect_id)
    if frame is None:
        raise not_found(f"no defect {defect_id}")
    if not frame.image_path:
        raise not_found(f"defect {defect_id} has no evidence image stored")
    if not is_anonymised(frame.survey_summary):
        raise not_found(f"defect {defect_id}'s image is not anonymised yet: run `roadscan anonymise` on the store")
    return resolve_image(store, frame.image_path), frame.box


@router.get("/defects/{defect_id}/image", summary="The frame that shows a defect", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG"}})
def image(request: Request, defect_id: RowId,
          box: Annotated[bool, Query(description="draw the detection box on the frame")] = False,
          _principal: Principal = Reader) -> Response:
    path, (x1, y1, x2, y2) = evidence(request.app.state.store, defect_id)
    if not box:
        return FileResponse(path, media_type="image/jpeg")
    with Image.open(path) as frame:
        frame = frame.convert("RGB")
        width = max(2, round(min(frame.size) / 200))
        ImageDraw.Draw(frame).rectangle((x1, y1, x2, y2), outline=(255, 40, 40), width=width)
        buf = io.BytesIO()
        frame.save(buf, format="JPEG", quality=90)
    return Response(buf.getvalue(), media_type="image/jpeg")
