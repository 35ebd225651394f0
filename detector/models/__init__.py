"""The shipped detector, found as package data wherever roadscan is installed.

`roadscan.onnx` (ONNX Runtime, what the pipeline runs) and `roadscan.pt` (ultralytics weights, to
fine-tune from) ship inside the wheel with `MODEL_CARD.md`; the evaluation pictures in `eval/` stay
in the source tree. Look them up here, never by paths relative to a module file:

    from roadscan.detector.models import shipped_model
    weights = shipped_model()        # Path to roadscan.onnx, or None if this install has none
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

FILES = {"onnx": "roadscan.onnx", "pt": "roadscan.pt"}
MODEL_CARD = "MODEL_CARD.md"

_extracted = ExitStack()  # files copied out of a zipped install, removed when the process ends
atexit.register(_extracted.close)


def _resource(name: str) -> Path | None:
    ref = files(__name__) / name
    if not ref.is_file():
        return None
    if isinstance(ref, Path):  # installed as plain files (wheel, editable or source tree)
        return ref
    return _extracted.enter_context(as_file(ref))  # e.g. a zip import: a real file for ONNX Runtime / torch


def shipped_model(fmt: str = "onnx") -> Path | None:
    """A filesystem path to the shipped weights in format `fmt` ("onnx" or "pt"); None when not installed."""
    if fmt not in FILES:
        raise ValueError(f"no shipped model of format {fmt!r}; formats: {', '.join(FILES)}")
    return _resource(FILES[fmt])


def model_card() -> Path | None:
    """The shipped model's card (what it was trained on, how it scores), or None when not installed."""
    return _resource(MODEL_CARD)
