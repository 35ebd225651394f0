"""Per-class confidence thresholds: chosen on validation data, stored with the model, applied to its boxes.

One flat cut (0.25) treats a class the model is sure of like one it guesses at; the F1-optimal cut per
class (COCO matching at IoU 0.5, detector/metrics.py) keeps each class at its own best balance of
false alarms and misses. A class is calibrated only on the validation sets that label it (a
pothole-only set says nothing about cracks, whose boxes there would count as false alarms); a class
without a true positive there keeps the flat `DEFAULT_CONFIDENCE`.

Where they live: inside an ONNX model as the metadata entry `roadscan_thresholds` (so the file the
pipeline runs carries them wherever it is copied; re-exporting drops them, and a new model must be
calibrated again), and for other weights (.pt) in `<weights>.thresholds.json` beside them, with the
weights' SHA-256, so a sidecar left beside retrained weights is ignored rather than misapplied.
`roadscan calibrate --model X --data data.yaml` derives and writes them in one command.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from roadscan.core.classes import CLASS_CODES
from roadscan.core.errors import ConfigError, ModelError
from roadscan.detector.detections import Detections
from roadscan.detector.metrics import best_f1, match

DEFAULT_CONFIDENCE = 0.25  # the flat cut for classes (and models) without a calibrated threshold
METADATA_KEY = "roadscan_thresholds"
SIDECAR_SUFFIX = ".thresholds.json"
RULE = "F1-optimal confidence per class (IoU >= 0.5, same class, greedy by confidence), on the sets labelling it"


@dataclass
class ClassScore:
    """How a class scores at its threshold on the calibration data."""

    threshold: float
    precision: float
    recall: float
    f1: float
    instances: int  # ground-truth boxes of the class in the sets that label it
    sets: list[str] = field(default_factory=list)  # the validation sets it was calibrated on
    calibrated: bool = True  # False: no true positive there, the default cut is kept


@dataclass
class ClassThresholds:
    """Confidence cut per class code; codes not listed use `default`."""

    thresholds: dict[str, float]
    default: float = DEFAULT_CONFIDENCE
    data: str = ""  # what they were derived on
    rule: str = RULE
    derived_at: str = ""
    scores: dict[str, ClassScore] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for code, value in {**self.thresholds, "default": self.default}.items():
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ModelError(f"confidence threshold of {code} must lie in 0..1, got {value!r}")

    def cut(self, code: str) -> float:
        return float(self.thresholds.get(str(code), self.default))

    @property
    def lowest(self) -> float:
        return min([self.default, *self.thresholds.values()])

    def keep(self, dets: Detections) -> Detections:
        """The boxes at or above their class's threshold."""
        if not len(dets):
            return dets
        cuts = np.array([self.cut(c) for c in dets.code], dtype=np.float32)
        return dets[dets.confidence >= cuts - 1e-6]

    def describe(self) -> str:
        return ", ".join(f"{c} {self.cut(c):.2f}" for c in sorted(self.thresholds, key=_class_order)) + \
            f" (others {self.default:.2f})"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str, where: str | Path) -> ClassThresholds:
        try:
            raw = json.loads(text)
            scores = {k: ClassScore(**v) for k, v in raw.pop("scores", {}).items()}
            return cls(**{k: v for k, v in raw.items() if k != "model_sha256"}, scores=scores)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelError(f"the stored confidence thresholds cannot be read ({exc})", path=where,
                             hint="derive them again with `roadscan calibrate`") from None


def _class_order(code: str) -> int:
    return CLASS_CODES.index(code) if code in CLASS_CODES else len(CLASS_CODES)


# ------------------------------------------------------------------------------------ derive


def derive(predictions: Sequence[Detections], truth: Sequence[Detections], *, groups: Sequence[str] | None = None,
           data: str = "", default: float = DEFAULT_CONFIDENCE) -> ClassThresholds:
    """F1-optimal threshold per class from predictions (made at a low confidence) against ground truth.

    `groups` names each image's validation set; a class is scored only on the images of the sets that
    hold at least one ground-truth box of it.
    """
    if len(predictions) != len(truth):
        raise ValueError(f"{len(predictions)} prediction lists for {len(truth)} images")
    groups = np.asarray(groups if groups is not None else [data or "all"] * len(truth), dtype=object)
    tp = [match(p, t, np.array([0.5]))[:, 0] for p, t in zip(predictions, truth)]
    codes = sorted({c for t in truth for c in t.code} | {c for p in predictions for c in p.code}, key=_class_order)
    thresholds, scores = {}, {}
    for code in codes:
        labelled = sorted({g for g, t in zip(groups, truth) if (t.code == code).any()})
        if not labelled:
            continue
        conf, hits, n = [], [], 0
        for g, p, t, h in zip(groups, predictions, truth, tp):
            if g in labelled:
                mine = p.code == code
                conf.append(p.confidence[mine])
                hits.append(h[mine])
                n += int((t.code == code).sum())
        f1 = best_f1(np.concatenate(hits).astype(bool), np.concatenate(conf), n)
        if f1.threshold is None:
            scores[code] = ClassScore(default, 0.0, 0.0, 0.0, n, labelled, calibrated=False)
            continue
        thresholds[code] = math.floor(float(f1.threshold) * 1e4) / 1e4  # down: the boundary box stays in
        scores[code] = ClassScore(thresholds[code], round(f1.precision, 4), round(f1.recall, 4), round(f1.f1, 4), n,
                                  labelled)
    return ClassThresholds(thresholds, default, data, RULE, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                           scores)


def at_thresholds(predictions: Sequence[Detections], truth: Sequence[Detections], thresholds: ClassThresholds,
                  *, groups: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Per class precision and recall of the boxes kept by `thresholds` (IoU 0.5, same class); with
    `groups` (each image's set), a class is scored on the sets that label it, as `derive` chose it."""
    kept = [thresholds.keep(p) for p in predictions]
    tp = [match(p, t, np.array([0.5]))[:, 0] for p, t in zip(kept, truth)]
    groups = list(groups) if groups is not None else [""] * len(truth)
    out = {}
    codes = {c for t in truth for c in t.code} | {c for p in kept for c in p.code}
    for code in sorted(codes, key=_class_order):
        labelled = {g for g, t in zip(groups, truth) if (t.code == code).any()} or set(groups)
        use = [g in labelled for g in groups]
        n = sum(int((t.code == code).sum()) for t, u in zip(truth, use) if u)
        k = sum(int((p.code == code).sum()) for p, u in zip(kept, use) if u)
        hit = sum(int(h[p.code == code].sum()) for p, h, u in zip(kept, tp, use) if u)
        out[code] = {"threshold": thresholds.cut(code), "precision": hit / k if k else 0.0,
                     "recall": hit / n if n else 0.0, "kept": k, "instances": n}
    return out


# ------------------------------------------------------------------------------- read / write


def sidecar(weights: Path) -> Path:
    return Path(weights).with_name(Path(weights).name + SIDECAR_SUFFIX)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def from_metadata(meta: Mapping[str, str], where: str | Path) -> ClassThresholds | None:
    """The thresholds an ONNX model carries in its metadata, or None."""
    text = meta.get(METADATA_KEY)
    return ClassThresholds.from_json(text, where) if text else None


def read_thresholds(weights: str | Path) -> ClassThresholds | None:
    """The thresholds stored with these weights (ONNX metadata, else a sidecar made for these weights)."""
    weights = Path(weights)
    if weights.suffix.lower() == ".onnx" and weights.is_file():
        found = from_metadata(_onnx_metadata(weights), weights)
        if found is not None:
            return found
    side = sidecar(weights)
    if not side.is_file() or not weights.is_file():
        return None
    text = side.read_text()
    try:
        made_for = json.loads(text).get("model_sha256")
    except ValueError:
        made_for = None
    if made_for != _sha256(weights):
        return None  # derived for other weights (retrained since): not these weights' thresholds
    return ClassThresholds.from_json(text, side)


def _onnx_metadata(weights: Path) -> dict[str, str]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(weights), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception:  # an unreadable file is load_detector's to report, with its own message
        return {}
    return dict(session.get_modelmeta().custom_metadata_map)


def write_thresholds(weights: str | Path, thresholds: ClassThresholds) -> Path:
    """Store thresholds with the weights: into the ONNX file's metadata, or a sidecar JSON; returns the file."""
    weights = Path(weights)
    if not weights.is_file():
        raise ModelError("no such model file", path=weights)
    if weights.suffix.lower() != ".onnx":
        side = sidecar(weights)
        payload = {**json.loads(thresholds.to_json()), "model_sha256": _sha256(weights)}
        _replace(side, (json.dumps(payload, indent=2) + "\n").encode())
        return side
    try:
        import onnx
    except ImportError:
        raise ConfigError("writing thresholds into an ONNX model needs the onnx package",
                          hint="pip install 'roadscan[train]' (or pip install onnx)") from None
    model = onnx.load(str(weights))
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, thresholds.to_json()
    _replace(weights, model.SerializeToString())
    return weights


def _replace(path: Path, data: bytes) -> None:
    """Write in full beside the target, then rename over it: a crash never leaves half a model."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"cannot write the thresholds ({exc.strerror or exc})", path=path) from None


def resolve(weights: str | Path, conf: float | None) -> tuple[float, ClassThresholds | None]:
    """(the confidence the backend decodes at, the per-class thresholds to apply after, or None).

    A `conf` given by the user wins and is flat; without one the model's thresholds apply, and a
    model without any gets the flat DEFAULT_CONFIDENCE.
    """
    if conf is not None:
        return conf, None
    found = read_thresholds(weights)
    return (max(found.lowest - 1e-6, 0.0), found) if found is not None else (DEFAULT_CONFIDENCE, None)


def operating_point(detector) -> str:
    """In words, the confidence cut a detector applies: its model's per-class thresholds or one flat value."""
    found = getattr(detector, "thresholds", None)
    if found is not None:
        return f"per class from the model: {found.describe()}"
    conf = getattr(detector, "conf", None)
    return f"{conf:g} for every class" if isinstance(conf, (int, float)) else ""
