"""YOLO pre- and post-processing in numpy and OpenCV, for runtimes that only run the network (ONNX).

Mirrors what ultralytics does around its network, so that an exported model finds the same boxes:
letterbox (aspect-preserving resize, grey 114 padding, centred), a raw head output of
(batch, 4 + classes, anchors) with centre-size boxes, best class per box, class-aware NMS, and boxes
mapped back through the rounded resize gain and padding. Frames of one size share one set of resize
parameters, and the batch is converted to the network's float CHW layout in one array operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PAD_VALUE = 114  # ultralytics' letterbox grey
MAX_NMS = 30_000  # boxes entering NMS per image, as ultralytics
MAX_DET = 300  # boxes kept per image, as ultralytics


@dataclass(frozen=True)
class Letterbox:
    """How one original frame size maps into the network input: scale per axis, then padding."""

    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    new_w: int  # resized size before padding
    new_h: int

    def to_original(self, xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boxes in network-input pixels -> boxes in the original frame's pixels, clipped to it."""
        out = (xyxy - np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)) / np.array(
            [self.gain_x, self.gain_y, self.gain_x, self.gain_y], np.float32)
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out


def _params(h: int, w: int, size: tuple[int, int], stride: int, rect: bool) -> tuple[Letterbox, tuple[int, int]]:
    """Letterbox of an (h, w) frame and the (height, width) of the input it lands in (ultralytics' rules).

    With `rect` the input is the smallest stride-multiple rectangle around the resized frame, as
    ultralytics' predictor does for frames of one size: a 16:9 frame at 416 runs as 416x256 instead
    of 416x416, 40 % fewer pixels.
    """
    r = min(size[0] / h, size[1] / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = size[1] - new_w, size[0] - new_h
    if rect:
        dw, dh = dw % stride, dh % stride
    box = Letterbox(new_w / w, new_h / h, round(dw / 2 - 0.1), round(dh / 2 - 0.1), new_w, new_h)
    return box, (new_h + dh, new_w + dw)


def letterbox_batch(images: Sequence[np.ndarray], size: tuple[int, int], *, stride: int = 32,
                    rect: bool = False) -> tuple[np.ndarray, list[Letterbox]]:
    """(B, 3, H, W) float32 0..1 network input and each frame's Letterbox; frames stay RGB.

    Resize parameters are computed once per distinct frame size; the padded uint8 canvas is filled
    in place and turned into float CHW in one vectorised step. `rect` (for models that take any
    stride multiple) shrinks the input to the frames' aspect ratio when all frames share one size.
    """
    import cv2

    shapes = {im.shape[:2] for im in images}
    rect = rect and len(shapes) == 1  # mixed sizes share the full square input
    params = {s: _params(*s, size, stride, rect)[0] for s in shapes}
    out_h, out_w = _params(*next(iter(shapes)), size, stride, rect)[1] if shapes else size
    canvas = np.full((len(images), out_h, out_w, 3), PAD_VALUE, np.uint8)
    boxes = []
    for i, im in enumerate(images):
        p = params[im.shape[:2]]
        target = canvas[i, p.pad_y:p.pad_y + p.new_h, p.pad_x:p.pad_x + p.new_w]
        if (p.new_h, p.new_w) == im.shape[:2]:
            target[:] = im
        else:
            target[:] = cv2.resize(im, (p.new_w, p.new_h), interpolation=cv2.INTER_LINEAR)
        boxes.append(p)
    batch = canvas.transpose(0, 3, 1, 2).astype(np.float32)  # one pass: HWC -> CHW and uint8 -> float
    batch *= np.float32(1 / 255)
    return batch, boxes


def nms(xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS within each class, best score first (torchvision.ops.nms rules).

    OpenCV's batched NMS: measured 17x faster than a numpy greedy loop at 189 candidate boxes
    (0.07 vs 1.24 ms), and it keeps the same boxes.
    """
    import cv2

    if not len(xyxy):
        return np.zeros(0, np.int64)
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1).astype(np.float64)
    return np.asarray(cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float32), classes.astype(np.int32), -1.0, iou),
                      dtype=np.int64).reshape(-1)


def decode(pred: np.ndarray, conf: float, iou: float, *, max_det: int = MAX_DET,
           end2end: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xyxy, confidence, class index) of one image's raw head output, in network-input pixels.

    `pred` is (4 + classes, anchors) with centre-size boxes (YOLOv8/11 heads), or with `end2end`
    (YOLO26, YOLOv10) (max_det, 6) rows of x1, y1, x2, y2, score, class that need no NMS.
    """
    if end2end:
        rows = pred[pred[:, 4] > conf][:max_det]
        return rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32), rows[:, 5].astype(np.int64)
    scores_all = pred[4:]
    cls = scores_all.argmax(0)
    score = np.take_along_axis(scores_all, cls[None], 0)[0]
    keep = np.flatnonzero(score > conf)
    if keep.size > MAX_NMS:
        keep = keep[np.argsort(-score[keep], kind="stable")[:MAX_NMS]]
    cx, cy, w, h = pred[:4, keep]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    score, cls = score[keep].astype(np.float32), cls[keep]
    kept = nms(xyxy, score, cls, iou)[:max_det]
    return xyxy[kept], score[kept], cls[kept]
