"""The one value every detection step takes and returns (after supervision.Detections).

Boxes, scores and class codes live in parallel arrays so that filtering, merging and tabulating
stay vectorised; `to_frame` is the hand-over to pandas and the geo side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from roadscan.core.classes import CLASSES
from roadscan.core.tables import DETECTION_COLUMNS


@dataclass(eq=False)  # array fields make the generated __eq__ ambiguous
class Detections:
    """N boxes in one image's pixels: corners, confidence and class code per box."""

    xyxy: np.ndarray  # (N, 4) float32 x1, y1, x2, y2
    confidence: np.ndarray  # (N,) float32
    code: np.ndarray  # (N,) object: "D00", "D40", ...

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        code = np.empty(len(self.code), dtype=object)  # assigning keeps strings whole (no '<U3' truncation)
        code[:] = list(self.code)
        self.code = code
        if not len(self.xyxy) == len(self.confidence) == len(self.code):
            raise ValueError(f"Detections arrays differ in length: xyxy {len(self.xyxy)}, "
                             f"confidence {len(self.confidence)}, code {len(self.code)}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.empty(0, dtype=object))

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, index) -> Detections:
        """Select by boolean mask, index array or slice; an integer gives a one-box Detections."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return Detections(self.xyxy[index], self.confidence[index], self.code[index])

    @property
    def name(self) -> np.ndarray:
        """Human class names, parallel to `code`."""
        return np.array([CLASSES.get(c, str(c)) for c in self.code], dtype=object)

    def to_frame(self) -> pd.DataFrame:
        x1, y1, x2, y2 = self.xyxy.T
        return pd.DataFrame({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "confidence": self.confidence,
                             "code": self.code, "name": self.name}, columns=DETECTION_COLUMNS)

    @staticmethod
    def concat(items: Sequence[Detections]) -> Detections:
        items = list(items)
        if not items:
            return Detections.empty()
        return Detections(np.concatenate([d.xyxy for d in items]),
                          np.concatenate([d.confidence for d in items]),
                          np.concatenate([d.code for d in items]))
