"""A detector that answers with the sample drive's true boxes: an oracle for measuring geometry.

With perfect boxes, what is left of a defect's position error is the pipeline's own (GPS, timing,
pose interpolation, ground projection), which is what `bench/geolocate.py` reports and the tests
bound. Never a stand-in for a model on real footage: it knows nothing but the drive it was made for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from roadscan.detector.detections import Detections


class TruthDetector:
    """Detector protocol over `SampleDrive.boxes()`; needs the frame index of every image."""

    name = "truth-oracle"

    def __init__(self, boxes: pd.DataFrame):
        self._by_frame = {int(f): g for f, g in boxes.groupby("frame")}

    def predict(self, images: Sequence[np.ndarray], frame_indices: Sequence[int] | None = None) -> list[Detections]:
        if frame_indices is None or len(frame_indices) != len(images):
            raise ValueError("the truth oracle needs the frame index of every image")
        out = []
        for index in frame_indices:
            rows = self._by_frame.get(int(index))
            if rows is None:
                out.append(Detections.empty())
            else:
                out.append(Detections(rows[["x1", "y1", "x2", "y2"]].to_numpy(), np.ones(len(rows)),
                                      rows["code"].to_numpy()))
        return out
