"""Per-class confidence thresholds: derived on validation data, stored with the model, applied by it (issue 17)."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from roadscan.detector.detections import Detections
from roadscan.detector.models import shipped_model
from roadscan.detector.thresholds import (DEFAULT_CONFIDENCE, METADATA_KEY, ClassThresholds, at_thresholds, derive,
                                          read_thresholds, sidecar, write_thresholds)

needs_stack = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("ultralytics", "onnx")),
                                 reason="the detector stack (pip install 'roadscan[train]') is not installed")


def dets(rows):
    """[(x, code, confidence)] as 10 px boxes at column x."""
    return Detections(np.array([[x, 0, x + 10, 10] for x, _, _ in rows], np.float32).reshape(-1, 4),
                      [c for _, _, c in rows], [k for _, k, _ in rows])


def truth(rows):
    return dets([(x, k, 1.0) for x, k in rows])


def test_each_class_gets_its_f1_best_cut_on_the_sets_that_label_it():
    # set "rdd" labels cracks and potholes; set "web" labels potholes only: its crack boxes say nothing
    gt = [truth([(0, "D00"), (20, "D00"), (40, "D40")]), truth([(0, "D40"), (20, "D40")])]
    pred = [dets([(0, "D00", 0.9), (20, "D00", 0.3), (60, "D00", 0.5), (40, "D40", 0.2)]),
            dets([(0, "D40", 0.15), (20, "D40", 0.6), (80, "D00", 0.95), (90, "D10", 0.7)])]
    found = derive(pred, gt, groups=["rdd", "web"])
    # D00: 0.9 TP, 0.5 FP, 0.3 TP -> F1 best keeping all three (2TP 1FP) = 0.8 vs 0.67 at 0.9
    assert found.thresholds["D00"] == pytest.approx(0.3) and found.scores["D00"].sets == ["rdd"]
    assert found.thresholds["D40"] == pytest.approx(0.15) and found.scores["D40"].recall == 1.0
    assert "D10" not in found.thresholds and found.cut("D10") == DEFAULT_CONFIDENCE  # nothing labels it
    kept = found.keep(dets([(0, "D40", 0.15), (5, "D40", 0.1), (9, "D00", 0.29), (20, "D10", 0.26)]))
    assert kept.confidence.tolist() == pytest.approx([0.15, 0.26])  # each box against its own class's cut


def test_at_thresholds_reports_precision_and_recall_per_class():
    gt = [truth([(0, "D40"), (20, "D40")])]
    pred = [dets([(0, "D40", 0.6), (20, "D40", 0.2), (60, "D40", 0.7)])]
    flat = at_thresholds(pred, gt, ClassThresholds({}))
    assert flat["D40"] == {"threshold": 0.25, "precision": 0.5, "recall": 0.5, "kept": 2, "instances": 2}
    low = at_thresholds(pred, gt, ClassThresholds({"D40": 0.1}))
    assert low["D40"]["recall"] == 1.0 and low["D40"]["precision"] == pytest.approx(2 / 3)


def test_thresholds_outside_0_1_are_refused():
    from roadscan.core.errors import ModelError

    with pytest.raises(ModelError, match="D40"):
        ClassThresholds({"D40": 1.5})


def test_the_shipped_model_carries_its_thresholds():
    """A new shipped model must be calibrated: roadscan calibrate --model detector/models/roadscan.onnx."""
    weights = shipped_model("onnx")
    if weights is None:
        pytest.skip("no shipped model in this install")
    found = read_thresholds(weights)
    assert found is not None, "run: roadscan calibrate --model detector/models/roadscan.onnx --data build/dataset/data.yaml"
    assert set(found.thresholds) >= {"D00", "D10", "D20", "D40"}
    assert all(0 < t < 1 for t in found.thresholds.values()) and found.scores["D40"].instances > 0


@needs_stack
def test_onnx_model_stores_and_applies_them_and_a_flat_confidence_overrides(tiny_yolo_pt, tmp_path):
    from roadscan.detector.backends import load_detector
    from roadscan.detector.export import export_onnx

    onnx_path = export_onnx(tiny_yolo_pt, imgsz=64, out=tmp_path / "tiny.onnx")
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    everything = load_detector(onnx_path, conf=0.0, imgsz=64).predict([image])[0]
    assert len(everything) and load_detector(onnx_path, imgsz=64).thresholds is None  # none stored yet: flat 0.25
    top = float(everything.confidence.max())  # an untrained model: tiny, near-equal scores
    some = everything.code[0]
    cuts = {some: top + 1e-5}  # this class's boxes fall below their cut; the others keep the default
    write_thresholds(onnx_path, ClassThresholds(cuts, default=0.0, data="test"))

    import onnx

    assert METADATA_KEY in {p.key for p in onnx.load(str(onnx_path)).metadata_props}
    assert "names" in {p.key for p in onnx.load(str(onnx_path)).metadata_props}  # ultralytics' entries kept
    det = load_detector(onnx_path, imgsz=64)
    assert det.thresholds is not None and det.thresholds.thresholds == pytest.approx(cuts)
    kept = det.predict([image])[0]
    assert some not in set(kept.code) and len(kept) == int((everything.code != some).sum())
    flat = load_detector(onnx_path, conf=0.0, imgsz=64)  # --confidence given: one cut for all, the model's ignored
    assert flat.thresholds is None and len(flat.predict([image])[0]) == len(everything)


@needs_stack
def test_pt_weights_keep_them_beside_and_ignore_them_once_retrained(tiny_yolo_pt, tmp_path):
    weights = tmp_path / "best.pt"
    shutil.copy(tiny_yolo_pt, weights)
    written = write_thresholds(weights, ClassThresholds({"D40": 0.3}, data="test"))
    assert written == sidecar(weights) and written.name == "best.pt.thresholds.json"
    assert read_thresholds(weights).thresholds == {"D40": 0.3}
    from roadscan.detector.backends import load_detector

    assert load_detector(weights, imgsz=64).thresholds.cut("D40") == 0.3
    weights.write_bytes(weights.read_bytes() + b"\0")  # other weights now: the sidecar is not theirs
    assert read_thresholds(weights) is None
