"""Inference backends behind one call: `load_detector(weights) -> Detector`.

Backends are imported by name on demand, so choosing one never imports another's heavy stack.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from roadscan.detector.backends.base import Detector, batched
from roadscan.core.errors import ConfigError, ModelError

# backend name -> (module, class); each class takes (weights, *, conf, iou, imgsz, batch, device)
BACKENDS: dict[str, tuple[str, str]] = {
    "ultralytics": ("roadscan.detector.backends.ultralytics_backend", "UltralyticsDetector"),
    "onnx": ("roadscan.detector.backends.onnx_backend", "OnnxDetector"),
}
# backend chosen by the weights file's suffix when none is named
BY_SUFFIX = {".onnx": "onnx"}

__all__ = ["BACKENDS", "Detector", "batched", "load_detector"]


def load_detector(model: str | Path, *, backend: str | None = None, conf: float | None = None, iou: float = 0.5,
                  imgsz: int = 640, batch: int = 8, device: str = "cpu") -> Detector:
    """A ready detector for the weights file `model`; ModelError/ConfigError say what is wrong with the input.

    Without `backend`, the file decides: `.onnx` runs on ONNX Runtime, anything else (`.pt`) on
    ultralytics. Naming a backend forces it (and it then refuses files of the other kind).
    `conf` None keeps each class's boxes from the threshold stored with the model (detector/thresholds.py;
    a flat 0.25 for a model without any); a number is one flat cut for every class, as the user asked.
    """
    path = Path(model).expanduser()
    backend = backend or BY_SUFFIX.get(path.suffix.lower(), "ultralytics")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown detector backend '{backend}'", hint=f"choose one of: {', '.join(BACKENDS)}")
    if not path.exists():
        raise ModelError("no such model file", path=path, hint="check the path to the weights (.pt or .onnx)")
    if not path.is_file():
        raise ModelError("this is a folder, not a model file", path=path,
                         hint="give the weights file itself, e.g. runs/detect/train/weights/best.pt")
    for label, value, ok in (("confidence", conf, conf is None or 0 <= conf <= 1), ("IoU", iou, 0 < iou <= 1),
                             ("image size", imgsz, imgsz >= 32), ("batch", batch, batch >= 1)):
        if not ok:
            raise ConfigError(f"detector {label} {value} is out of range",
                              hint="confidence and IoU lie in 0..1, image size is at least 32, batch at least 1")
    module, cls = BACKENDS[backend]
    factory = getattr(importlib.import_module(module), cls)
    return factory(path, conf=conf, iou=iou, imgsz=imgsz, batch=batch, device=device)
