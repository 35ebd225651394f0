"""YOLO models (ultralytics .pt weights) as a Detector.

ultralytics and torch are imported when a detector is made, never at module import, so that the
API server and the geo side run without the detector stack installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from roadscan.detector.backends.base import batched, check_images
from roadscan.core.classes import code_for
from roadscan.detector.detections import Detections
from roadscan.core.errors import ConfigError, ModelError
from roadscan.detector.extras import TRAIN_HINT
from roadscan.detector.thresholds import resolve

# Tasks whose results carry axis-aligned boxes; a segmentation model's boxes serve as well.
BOX_TASKS = {"detect", "segment"}


class UltralyticsDetector:
    """A local YOLO checkpoint run through ultralytics' predictor."""

    def __init__(self, weights: Path, *, conf: float | None = None, iou: float = 0.5, imgsz: int = 640,
                 batch: int = 8, device: str = "cpu"):
        weights = Path(weights)
        if weights.suffix.lower() != ".pt":
            raise ModelError(f"the ultralytics backend loads PyTorch .pt weights, not '{weights.suffix}' files",
                             path=weights, hint="give the .pt file the model was trained to")
        YOLO, select_device = _import_ultralytics()
        try:
            model = YOLO(str(weights))
        except Exception as e:  # ultralytics reports bad files as TypeError, KeyError, RuntimeError, ...
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"cannot load these YOLO weights: {reason}", path=weights,
                             hint="check the file is a complete ultralytics .pt checkpoint (best.pt/last.pt)") from e
        if model.task not in BOX_TASKS:
            raise ModelError(f"this is a '{model.task}' model; roadscan needs an object-detection model",
                             path=weights, hint="train or pick a YOLO detection model (task 'detect')")
        try:
            select_device(device, verbose=False)
        except Exception as e:  # ultralytics raises ValueError naming the devices it can see
            raise ConfigError(f"cannot run the detector on device '{device}': {str(e).strip().splitlines()[0]}",
                              hint="use device 'cpu', or 'cuda' / '0' on a machine with an NVIDIA GPU") from e
        names = model.names
        self.codes = {int(i): code_for(n) for i, n in names.items()}  # model class index -> our class code
        self._lookup = np.array([self.codes.get(i, str(i)) for i in range(max(self.codes) + 1)], dtype=object)
        self._model = model
        self.name = f"ultralytics:{weights.name}"
        self.weights = weights
        conf, self.thresholds = resolve(weights, conf)  # per-class thresholds of a sidecar made for these weights
        self.conf, self.iou, self.imgsz, self.batch, self.device = conf, iou, imgsz, batch, device

    def predict(self, images: Sequence[np.ndarray], frame_indices: Sequence[int] | None = None) -> list[Detections]:
        images = list(images)
        check_images(images)
        out: list[Detections] = []
        for chunk in batched(images, self.batch):
            bgr = [np.ascontiguousarray(im[..., ::-1]) for im in chunk]  # ultralytics reads arrays as OpenCV BGR
            results = self._model.predict(bgr, conf=self.conf, iou=self.iou, imgsz=self.imgsz, device=self.device,
                                          verbose=False)
            dets = (self._detections(r, im.shape) for r, im in zip(results, chunk))
            out.extend(self.thresholds.keep(d) if self.thresholds is not None else d for d in dets)
        return out

    def _detections(self, result, shape) -> Detections:
        boxes = result.boxes
        if boxes is None or not len(boxes):
            return Detections.empty()
        h, w = shape[:2]
        xyxy = boxes.xyxy.cpu().numpy()
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
        cls = boxes.cls.cpu().numpy().astype(np.int64)
        return Detections(xyxy, boxes.conf.cpu().numpy(), self._lookup[cls])


def _import_ultralytics():
    from roadscan.detector.offline import ensure_offline

    try:
        ensure_offline()
        from ultralytics import YOLO
        from ultralytics.utils.torch_utils import select_device
    except ImportError as e:
        raise ConfigError(f".pt weights run on ultralytics and torch, and {e.name or e} is not installed",
                          hint=f"{TRAIN_HINT}, or give ONNX weights (.onnx), which run on ONNX Runtime") from e
    return YOLO, select_device
