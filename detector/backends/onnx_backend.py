"""YOLO models exported to ONNX (`roadscan export`), run with ONNX Runtime: no torch at inference.

Faster than ultralytics' PyTorch predictor on a CPU (bench/detect.py: 1.4-1.7x on the 2-core dev
machine) and a far smaller install for survey laptops.
Pre- and post-processing (letterbox, NMS, mapping boxes back) live in `yolo_ops` and follow
ultralytics' rules, so both backends find the same boxes. Class names come from the `names` entry
ultralytics writes into the ONNX metadata. A model exported with a dynamic input (the default of
`roadscan export`) runs at the `imgsz` asked for, in batches of `batch`, and same-size frames get
the smaller rectangular input ultralytics uses; a static model runs at its own input size and
batch (the last, partial batch is padded).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from roadscan.detector.backends.base import batched, check_images
from roadscan.detector.backends.yolo_ops import decode, letterbox_batch
from roadscan.core.classes import code_for
from roadscan.detector.detections import Detections
from roadscan.core.errors import ConfigError, ModelError
from roadscan.detector.thresholds import DEFAULT_CONFIDENCE, from_metadata

CPU_RUN_BATCH = 2  # frames per ONNX Runtime call on a CPU (see OnnxDetector.run_batch)


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:
        raise ConfigError("ONNX Runtime is not installed, though roadscan depends on it",
                          hint="install it with: pip install onnxruntime (or reinstall roadscan)") from e
    return onnxruntime


def _providers(ort, device: str) -> list:
    """ONNX Runtime execution providers for a device named as for ultralytics: cpu, cuda, cuda:1, 0."""
    d, available = str(device).strip().lower(), ort.get_available_providers()
    if d in ("", "cpu"):
        return ["CPUExecutionProvider"]
    if (d == "cuda" or d.startswith("cuda:") or d.isdigit()) and "CUDAExecutionProvider" in available:
        index = d.rpartition(":")[2] if d.startswith("cuda:") else d if d.isdigit() else "0"
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    raise ConfigError(f"cannot run the ONNX detector on device '{device}'",
                      hint=f"ONNX Runtime here offers {', '.join(available)}; use device 'cpu'")


def _names(meta: dict[str, str], classes: int, path: Path) -> dict[int, str]:
    """Model class index -> name from ultralytics' metadata, or plain indices if none was written."""
    if "names" not in meta:
        return {i: str(i) for i in range(classes)}
    try:
        names = ast.literal_eval(meta["names"])  # ultralytics writes str(dict), e.g. "{0: 'D00', ...}"
        return {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
    except (ValueError, SyntaxError, AttributeError):
        raise ModelError("the ONNX metadata entry 'names' is not a class list", path=path,
                         hint="export the model again with `roadscan export`") from None


class OnnxDetector:
    """An exported YOLO detection model run through an ONNX Runtime session."""

    def __init__(self, weights: Path, *, conf: float | None = None, iou: float = 0.5, imgsz: int = 640, batch: int = 8,
                 device: str = "cpu", threads: int | None = None):
        weights = Path(weights)
        if weights.suffix.lower() != ".onnx":
            raise ModelError(f"the onnx backend loads .onnx files, not '{weights.suffix}' files", path=weights,
                             hint="make one with `roadscan export --model WEIGHTS.pt`, or use the ultralytics backend")
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: no warnings about unused initialisers
        # Idle ONNX Runtime threads spin by default; on a laptop or server shared with other work that
        # burns the cores the busy threads need (measured 1.75x slower under a training job's load).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(weights), sess_options=options, providers=_providers(ort, device))
        except ConfigError:
            raise
        except Exception as e:  # ONNX Runtime raises its own Fail/InvalidGraph/InvalidProtobuf types
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"cannot load this ONNX model: {reason}", path=weights,
                             hint="check the file is a complete .onnx export (`roadscan export`)") from e
        meta = session.get_modelmeta().custom_metadata_map
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if meta.get("task", "detect") not in ("detect", "segment") or len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelError(f"this ONNX model is not a YOLO detection model (task '{meta.get('task', '?')}', "
                             f"input shape {inputs[0].shape if inputs else None})", path=weights,
                             hint="export a YOLO detection model with `roadscan export`")
        self.end2end = meta.get("end2end", "False") == "True"
        n_classes = outputs[0].shape[1] - 4 if isinstance(outputs[0].shape[1], int) else 0
        names = _names(meta, n_classes, weights)
        self.codes = {i: code_for(n) for i, n in names.items()}  # model class index -> our class code
        self._lookup = np.array([self.codes.get(i, str(i)) for i in range(max(self.codes, default=-1) + 1)],
                                dtype=object)
        b, _, h, w = inputs[0].shape
        self.dynamic = not (isinstance(h, int) and isinstance(w, int))
        self.fixed_batch = b if isinstance(b, int) else None
        self.stride = int(meta.get("stride", 32))
        self.imgsz = (imgsz, imgsz) if self.dynamic else (h, w)
        self.batch = self.fixed_batch or batch
        # Frames per network call. On a CPU, ONNX Runtime runs 1-2 frames at a time 10-20 % faster
        # per frame than 8 (the activations of a large batch no longer fit the caches; measured
        # with yolo11n at 416 on the dev machine); a GPU wants the whole batch.
        self.run_batch = self.fixed_batch or (batch if device not in ("", "cpu") else min(batch, CPU_RUN_BATCH))
        self._session, self._input = session, inputs[0].name
        self.name = f"onnx:{weights.name}"
        self.weights = weights
        # per-class thresholds the model carries (roadscan calibrate) unless the caller gave one flat cut
        self.thresholds = from_metadata(meta, weights) if conf is None else None
        if conf is None:
            conf = max(self.thresholds.lowest - 1e-6, 0.0) if self.thresholds is not None else DEFAULT_CONFIDENCE
        self.conf, self.iou, self.device = conf, iou, device

    def predict(self, images: Sequence[np.ndarray], frame_indices: Sequence[int] | None = None) -> list[Detections]:
        """One Detections per image (see Detector); frame_indices are not used by a single-image model."""
        images = list(images)
        check_images(images)
        out: list[Detections] = []
        for chunk in batched(images, self.batch):
            x, boxes = letterbox_batch(chunk, self.imgsz, stride=self.stride, rect=self.dynamic)
            pred = np.concatenate([self._run(x[i:i + self.run_batch]) for i in range(0, len(x), self.run_batch)])
            for i, (im, box) in enumerate(zip(chunk, boxes)):
                xyxy, score, cls = decode(pred[i], self.conf, self.iou, end2end=self.end2end)
                h, w = im.shape[:2]
                dets = Detections(box.to_original(xyxy, w, h), score, self._code(cls))
                out.append(self.thresholds.keep(dets) if self.thresholds is not None else dets)
        return out

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self.fixed_batch and n < self.fixed_batch:  # a static batch: pad the last one
            x = np.concatenate([x, np.zeros((self.fixed_batch - n, *x.shape[1:]), x.dtype)])
        return self._session.run(None, {self._input: x})[0][:n]

    def _code(self, cls: np.ndarray) -> np.ndarray:
        if cls.size and cls.max() >= len(self._lookup):  # a model whose metadata lists fewer names
            return np.array([self.codes.get(int(c), str(int(c))) for c in cls], dtype=object)
        return self._lookup[cls]
