"""Boxes that cannot be a road defect, caught before they are placed, merged and scored.

A detector box is only evidence of a defect if what it frames can be a patch of road: the same
geometry that places it on the ground (geo/locate.py) says when it cannot. `place` is the one call
the survey job makes per batch: it fuses the boxes one defect got twice in a frame, places every box,
and drops those no road defect could make, returning how many of each reason it dropped (the
survey's summary prints them). The rules, with their defaults in `PlausibilityRules`:

- **Covers most of the frame** (box area above `max_frame_fraction` of the image): a whole view of
  grass, a wall or a wet windscreen; a defect that big is under the wheels, not ahead.
- **Reaches above the horizon** (the box's top lies more than `horizon_margin` of the image height
  above the flat road's horizon while its bottom is on the road): part of what it frames is not
  road. Boxes wholly above the horizon are kept, unplaced (they say the camera profile is wrong,
  which `geo.defect_changes.placed_nothing` needs to know).
- **Beyond the camera's useful range** (footprint centre farther than `max_range_m` from the camera):
  a few pixels near the horizon, whose ground size and position one row of error changes by metres.
  20 m is the stretch a pass is taken to cover (`geo.defect_changes.VIEW_AHEAD_M`).
- **Physically absurd size for its class** (footprint width or length beyond `max_size_m` of the
  class family): a 5 m "pothole" is a shadow or a patch of another surface.

Two boxes of one class in one frame that overlap are one defect's two halves (the detector's
suppression leaves both when they overlap less than its IoU cut): `fuse_boxes` makes them one box,
so that the merge's "one sighting per class and frame" rule does not split the defect in two.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from roadscan.core.classes import FAMILY, human_name
from roadscan.geo.camera import CameraProfile
from roadscan.geo.locate import locate

FRAME = "covers most of the frame"
HORIZON = "reaches above the horizon"
RANGE = "beyond the camera's useful range"
SIZE = "too large for its class"
REASONS = (FRAME, HORIZON, RANGE, SIZE)


@dataclass(frozen=True)
class PlausibilityRules:
    """Limits past which a box is no road defect (module doc)."""

    max_frame_fraction: float = 0.5
    horizon_margin: float = 0.05
    max_range_m: float = 20.0
    # footprint width and length (m) at most, per class family; a lane is ~3.5 m, a road ~12 m
    max_size_m: dict[str, float] = field(default_factory=lambda: {"pothole": 3.0, "crack": 15.0, "repair": 15.0})

    def max_size(self, codes: pd.Series) -> np.ndarray:
        return codes.map(FAMILY).map(self.max_size_m).fillna(np.inf).to_numpy(np.float64)


def fuse_boxes(boxes: pd.DataFrame) -> pd.DataFrame:
    """Same-class boxes of one frame that overlap become one: their union, with the best confidence.

    `boxes` has frame_index, code, x1, y1, x2, y2, confidence and any pose columns (kept from the most
    confident box). Rows of frames with one box per class come back unchanged, in order.
    """
    if len(boxes) < 2:
        return boxes
    key = boxes["frame_index"].astype(str) + "/" + boxes["code"].astype(str)
    shared = key.duplicated(keep=False).to_numpy()
    if not shared.any():
        return boxes
    label = np.arange(len(boxes))
    xyxy = boxes[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    for rows in pd.Series(np.flatnonzero(shared)).groupby(key.to_numpy()[shared]).agg(list):
        changed = True
        while changed:  # a handful of boxes per frame and class: join overlapping ones until none is left
            changed = False
            for i in rows:
                for j in rows:
                    if label[i] < label[j] and _touch(xyxy[i], xyxy[j]):
                        label[label == label[j]] = label[i]
                        changed = True
    if len(np.unique(label)) == len(boxes):
        return boxes
    ordered = boxes.assign(_label=label, _row=np.arange(len(boxes))).sort_values(
        ["_label", "confidence"], ascending=[True, False], kind="stable")
    g = ordered.groupby("_label", sort=False)
    fused = g.head(1).set_index("_label")
    fused["x1"], fused["y1"] = g["x1"].min(), g["y1"].min()
    fused["x2"], fused["y2"] = g["x2"].max(), g["y2"].max()
    return fused.sort_values("_row").drop(columns="_row").reset_index(drop=True)


def _touch(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3])


def implausible(located: pd.DataFrame, camera: CameraProfile, rules: PlausibilityRules = PlausibilityRules()
                ) -> pd.Series:
    """Per located box the first rule it breaks (REASONS), or None; see the module doc."""
    x1, y1, x2, y2 = (located[c].to_numpy(np.float64) for c in ("x1", "y1", "x2", "y2"))
    placed = located["lat"].notna().to_numpy() if "lat" in located else np.isfinite(located["forward_m"].to_numpy())
    frame = (x2 - x1) * (y2 - y1) > rules.max_frame_fraction * camera.width * camera.height
    horizon = placed & (y1 < camera.horizon_row - rules.horizon_margin * camera.height)
    distance = pd.to_numeric(located["distance_m"], errors="coerce").to_numpy(np.float64)
    far = placed & (distance > rules.max_range_m)
    size = np.fmax(pd.to_numeric(located["width_m"], errors="coerce").to_numpy(np.float64),
                   pd.to_numeric(located["length_m"], errors="coerce").to_numpy(np.float64))
    big = placed & (size > rules.max_size(located["code"].astype(str)))
    reason = np.select([frame, horizon, far, big], list(REASONS), default=None)
    return pd.Series(reason, index=located.index, dtype=object)


def place(boxes: pd.DataFrame, camera: CameraProfile, crs: str, rules: PlausibilityRules = PlausibilityRules()
          ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Fuse, place (geo.locate) and screen one batch of boxes joined to their poses.

    Returns the boxes that can be road defects with the locate columns, and per reason how many were
    dropped ("pothole too large for its class" names the class).
    """
    if not len(boxes):
        return boxes, {}
    boxes = fuse_boxes(boxes)
    located = pd.concat([boxes, locate(boxes, camera, crs)], axis=1)
    reason = implausible(located, camera, rules)
    bad = reason.notna()
    named = np.where(reason[bad] == SIZE, located.loc[bad, "code"].map(human_name) + " " + SIZE, reason[bad])
    return located[~bad].reset_index(drop=True), dict(Counter(named.tolist()))
