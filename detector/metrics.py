"""Detection metrics on our own Detections, so that every backend is scored by the same code.

- Matching (COCO's rule, also the RDD challenge's): per image and class, predictions in falling
  confidence take the unmatched ground-truth box of the same class with the highest IoU, if that
  IoU is at least the threshold; everything else is a false positive.
- AP is COCO's 101-point interpolated AP (as pycocotools computes it): the precision envelope
  (best precision at any recall at least as high) sampled at recall 0, 0.01, ..., 1 and averaged.
  mAP50 averages AP at IoU 0.5, mAP50-95 averages over IoU 0.50:0.05:0.95; both only over the
  classes that have ground truth in the set (a pothole-only set says nothing about cracks).
- F1 is the RDD challenge's: pooled over all classes (micro), IoU >= 0.5 with matching class, at
  the confidence threshold that maximises it; predictions of classes absent from the ground
  truth count as false positives there.

Predictions are scored as the detector delivers them: one class per box. ultralytics' `val()`
differs in three ways, so its mAP reads somewhat higher: its NMS may keep one box under several
classes (multi-label), it matches by IoU rank rather than by confidence, and it integrates the PR
curve with linear interpolation and the trapezoid rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from roadscan.core.classes import CLASS_CODES, human_name
from roadscan.detector.detections import Detections

IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
RECALL_POINTS = np.linspace(0, 1, 101)
AP_METHOD = "COCO 101-point interpolated AP (precision envelope sampled at recall 0:0.01:1)"


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes a (N, 4) and b (M, 4), broadcast in one pass."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area_a = np.prod((a[:, 2:] - a[:, :2]).clip(0), axis=1)
    area_b = np.prod((b[:, 2:] - b[:, :2]).clip(0), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match(pred: Detections, truth: Detections, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """(N, T) bool: prediction i is a true positive at IoU threshold t (greedy by confidence, per class)."""
    tp = np.zeros((len(pred), len(thresholds)), bool)
    if not len(pred) or not len(truth):
        return tp
    iou = box_iou(pred.xyxy, truth.xyxy) * (pred.code[:, None] == truth.code[None, :])  # other class: no match
    candidates = np.flatnonzero(iou.max(axis=1) >= thresholds.min())  # the rest are false positives everywhere
    order = candidates[np.argsort(-pred.confidence[candidates], kind="stable")]
    taken = np.zeros((len(thresholds), len(truth)), bool)  # ground truth already matched, per threshold
    rows = np.arange(len(thresholds))
    for i in order:
        free = np.where(taken, -1.0, iou[i][None, :])  # (T, M)
        best = free.argmax(axis=1)
        hit = free[rows, best] >= thresholds
        taken[rows[hit], best[hit]] = True
        tp[i] = hit
    return tp


def average_precision(tp: np.ndarray, confidence: np.ndarray,
                      n_truth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AP per threshold (T,), recall (N,), precision envelope (N,)); the curves at the first threshold.

    `tp` is (N, T) for all predictions of one class across the set, `n_truth` > 0 its boxes.
    """
    if not len(tp):
        return np.zeros(tp.shape[1]), np.zeros(0), np.zeros(0)
    order = np.argsort(-confidence, kind="mergesort")  # pycocotools' stable order
    tps = np.cumsum(tp[order], axis=0)
    fps = np.cumsum(~tp[order], axis=0)
    recall = tps / n_truth
    envelope = np.maximum.accumulate((tps / (tps + fps))[::-1], axis=0)[::-1]
    ap = np.empty(tp.shape[1])
    for t in range(tp.shape[1]):  # 10 thresholds: a loop of 10 vectorised lookups
        idx = np.searchsorted(recall[:, t], RECALL_POINTS, side="left")
        ap[t] = np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1), t], 0.0).mean()
    return ap, recall[:, 0], envelope[:, 0]


@dataclass
class F1:
    """The best F1 over confidence thresholds, and the counts behind it."""

    f1: float
    threshold: float | None  # keep predictions with confidence >= this; None: no true positive at all
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int


def best_f1(tp: np.ndarray, confidence: np.ndarray, n_truth: int) -> F1:
    """F1 = 2TP / (2TP + FP + FN) at the confidence cut that maximises it (`tp` (N,) at IoU 0.5)."""
    order = np.argsort(-confidence, kind="mergesort")
    conf, hits = confidence[order], tp[order]
    tps, fps = np.cumsum(hits), np.cumsum(~hits)
    last_of_tie = np.r_[conf[1:] != conf[:-1], True] if len(conf) else np.zeros(0, bool)  # cut between values
    f1 = np.where(last_of_tie, 2 * tps / np.maximum(2 * tps + fps + (n_truth - tps), 1), -1.0)
    if not len(f1) or f1.max() <= 0:
        return F1(0.0, None, 0.0, 0.0, 0, int(len(conf)), n_truth)
    i = int(np.argmax(f1))
    tp_i, fp_i = int(tps[i]), int(fps[i])
    return F1(float(f1[i]), float(conf[i]), tp_i / (tp_i + fp_i), tp_i / n_truth if n_truth else 0.0,
              tp_i, fp_i, n_truth - tp_i)


@dataclass
class ClassMetrics:
    """One class over the whole set; AP is None for a class without ground truth."""

    code: str
    images: int  # images holding at least one ground-truth box of the class
    instances: int
    predictions: int
    ap50: float | None
    ap50_95: float | None
    precision: float  # at the F1-best confidence threshold of the whole set
    recall: float
    f1: float
    curve_recall: np.ndarray = field(repr=False)  # PR curve at IoU 0.5, predictions in falling confidence
    curve_precision: np.ndarray = field(repr=False)
    curve_confidence: np.ndarray = field(repr=False)

    @property
    def name(self) -> str:
        return human_name(self.code)


@dataclass
class Metrics:
    """Scores of one set of predictions against one ground truth."""

    classes: list[ClassMetrics]
    map50: float
    map50_95: float
    classes_in_mean: list[str]
    f1: F1
    images: int
    ap_method: str = AP_METHOD

    def to_dict(self) -> dict:
        """JSON-ready numbers (curves left out)."""
        return {
            "images": self.images,
            "ap_method": self.ap_method,
            "iou_thresholds": IOU_THRESHOLDS.tolist(),
            "mAP50": self.map50,
            "mAP50_95": self.map50_95,
            "classes_in_mean": self.classes_in_mean,
            "f1": {"value": self.f1.f1, "threshold": self.f1.threshold, "precision": self.f1.precision,
                   "recall": self.f1.recall, "tp": self.f1.tp, "fp": self.f1.fp, "fn": self.f1.fn,
                   "rule": "RDD challenge: all classes pooled, IoU >= 0.5 and same class, greedy by confidence, "
                           "best confidence threshold"},
            "classes": {c.code: {"name": c.name, "images": c.images, "instances": c.instances,
                                 "predictions": c.predictions, "AP50": c.ap50, "AP50_95": c.ap50_95,
                                 "precision": c.precision, "recall": c.recall, "f1": c.f1}
                        for c in self.classes},
        }


def score(predictions: Sequence[Detections], truth: Sequence[Detections]) -> Metrics:
    """Metrics of per-image predictions against per-image ground truth (two parallel lists)."""
    if len(predictions) != len(truth):
        raise ValueError(f"{len(predictions)} prediction lists for {len(truth)} images")
    tps = [match(p, t) for p, t in zip(predictions, truth)]
    tp = np.concatenate(tps) if tps else np.zeros((0, len(IOU_THRESHOLDS)), bool)
    preds, gt = Detections.concat(predictions), Detections.concat(truth)
    image_of_gt = np.repeat(np.arange(len(truth)), [len(t) for t in truth])
    f1 = best_f1(tp[:, 0], preds.confidence, len(gt))
    kept = preds.confidence >= f1.threshold if f1.threshold is not None else np.zeros(len(preds), bool)
    codes = [c for c in CLASS_CODES if c in set(gt.code) | set(preds.code)]
    codes += sorted((set(gt.code) | set(preds.code)) - set(codes), key=str)  # codes of models with other classes
    classes = []
    for code in codes:
        is_pred, is_gt = preds.code == code, gt.code == code
        n = int(is_gt.sum())
        ctp, cconf = tp[is_pred], preds.confidence[is_pred]
        order = np.argsort(-cconf, kind="mergesort")
        if n:
            ap, rec, prec = average_precision(ctp, cconf, n)
        else:
            ap, rec, prec = None, np.zeros(len(ctp)), np.cumsum(ctp[order, 0]) / np.arange(1, len(ctp) + 1)
        k_tp, k_all = int((ctp[:, 0] & kept[is_pred]).sum()), int(kept[is_pred].sum())
        p, r = (k_tp / k_all if k_all else 0.0), (k_tp / n if n else 0.0)
        classes.append(ClassMetrics(code, len(np.unique(image_of_gt[is_gt])), n, int(is_pred.sum()),
                                    None if ap is None else float(ap[0]), None if ap is None else float(ap.mean()),
                                    p, r, 2 * p * r / (p + r) if p + r else 0.0, rec, prec, cconf[order]))
    scored = [c for c in classes if c.ap50 is not None]
    return Metrics(classes, float(np.mean([c.ap50 for c in scored])) if scored else 0.0,
                   float(np.mean([c.ap50_95 for c in scored])) if scored else 0.0,
                   [c.code for c in scored], f1, len(truth))
