"""Detections on the image to positions and sizes on the ground.

A defect lies flat on the road, so the whole box is on the ground plane: its footprint is the box's
rows and columns projected through the camera. The defect's position is the centre of that
footprint. (Projecting only the box's bottom-centre, as one does for cars and people that stand up,
would place every defect at its near edge, half its length short.) When the top of a box reaches the
horizon the far edge is unknown, and the position falls back to the bottom-centre.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyproj import Transformer

from roadscan.geo.camera import CameraProfile

# A box whose top edge projects further than this is treated as reaching the horizon.
MAX_RANGE_M = 60.0


def ground_footprint(camera: CameraProfile, xyxy: np.ndarray) -> pd.DataFrame:
    """Per box: centre (forward_m, right_m) in the vehicle frame, width_m and length_m on the road."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = xyxy.T
    uc = (x1 + x2) / 2
    near_f, near_r = camera.pixel_to_ground(uc, y2)
    far_f, far_r = camera.pixel_to_ground(uc, y1)
    left_f, left_r = camera.pixel_to_ground(x1, y2)
    right_f, right_r = camera.pixel_to_ground(x2, y2)

    far_known = np.isfinite(far_f) & (far_f - near_f < MAX_RANGE_M)
    forward = np.where(far_known, (near_f + far_f) / 2, near_f)
    right = np.where(far_known, (near_r + far_r) / 2, near_r)
    length = np.where(far_known, np.hypot(far_f - near_f, far_r - near_r), np.nan)
    width = np.hypot(right_f - left_f, right_r - left_r)
    return pd.DataFrame({"forward_m": forward, "right_m": right, "width_m": width,
                         "length_m": length, "far_edge_known": far_known})


def vehicle_to_world(x, y, heading_deg, forward, right) -> tuple[np.ndarray, np.ndarray]:
    """Offsets in the vehicle frame to metric map coordinates (x east, y north)."""
    h = np.radians(np.asarray(heading_deg, dtype=np.float64))
    sin_h, cos_h = np.sin(h), np.cos(h)
    return (np.asarray(x) + forward * sin_h + right * cos_h,
            np.asarray(y) + forward * cos_h - right * sin_h)


def locate(boxes: pd.DataFrame, camera: CameraProfile, crs: str) -> pd.DataFrame:
    """Ground positions for detections joined to the pose of their frame.

    `boxes` needs columns x1, y1, x2, y2 (pixels of an image of the camera's size) and the pose columns
    x, y (metres in `crs`) and heading (degrees clockwise from north). Returns the footprint columns plus
    ground_x, ground_y (in `crs`), lat, lon (WGS84) and distance_m (straight-line from the camera).
    """
    footprint = ground_footprint(camera, boxes[["x1", "y1", "x2", "y2"]].to_numpy())
    gx, gy = vehicle_to_world(boxes["x"].to_numpy(), boxes["y"].to_numpy(), boxes["heading"].to_numpy(),
                              footprint["forward_m"].to_numpy(), footprint["right_m"].to_numpy())
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(gx, gy)
    footprint.index = boxes.index
    return footprint.assign(
        ground_x=gx, ground_y=gy, lat=lat, lon=lon,
        distance_m=np.hypot(footprint["forward_m"] - camera.forward_offset_m,
                            footprint["right_m"] - camera.lateral_offset_m),
    )
