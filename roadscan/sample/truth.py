"""Ground truth of the sample drive: where each defect shows in each frame.

A defect's footprint is flat on the road, so its image is the footprint's projection. The footprint
is first clipped (in the vehicle frame) to the part of the road the image shows within MAX_RANGE_M;
for a pinhole camera straight ground edges stay straight, so the box around the projected corners of
that clipped polygon is exactly the box around what was drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from roadscan.core.classes import human_name
from roadscan.geo.camera import CameraProfile
from roadscan.sample.scene import Defect

MAX_RANGE_M = 40.0
MIN_BOX_WIDTH_PX = 4.0
MIN_BOX_HEIGHT_PX = 3.0


def visible_ground(camera: CameraProfile, max_range_m: float = MAX_RANGE_M) -> shapely.Polygon:
    """The road area (vehicle frame: forward, right) that the image shows, up to `max_range_m` ahead."""
    w, h = camera.width, camera.height
    far_row = float(camera.ground_to_pixel(2 * max_range_m, 0.0)[1])
    side = np.linspace(h, far_row, 64)
    bottom = np.linspace(0, w, 64)
    u = np.concatenate([bottom, np.full_like(side, w), np.full_like(side, 0)[::-1]])
    v = np.concatenate([np.full_like(bottom, h), side, side[::-1]])
    f, r = camera.pixel_to_ground(u, v)
    image = shapely.Polygon(np.stack([f, r], axis=1)).buffer(0)
    return shapely.intersection(image, shapely.box(0.0, -10 * max_range_m, max_range_m, 10 * max_range_m))


def truth_boxes(camera: CameraProfile, poses: pd.DataFrame, defects: list[Defect]) -> pd.DataFrame:
    """One row per (frame, defect) where the defect shows at least MIN_BOX_*_PX big.

    `poses` has one row per frame with columns frame, x, y (map CRS) and heading (degrees).
    Columns: frame, defect, code, name, x1, y1, x2, y2 (pixels), forward_m, right_m (the defect's
    centre in the vehicle frame), visible (share of the footprint inside the view).
    """
    view = visible_ground(camera)
    heading = np.radians(poses["heading"].to_numpy())[:, None]
    sin_h, cos_h = np.sin(heading), np.cos(heading)
    cx = np.array([d.x for d in defects])[None, :] - poses["x"].to_numpy()[:, None]
    cy = np.array([d.y for d in defects])[None, :] - poses["y"].to_numpy()[:, None]
    forward = cx * sin_h + cy * cos_h
    right = cx * cos_h - cy * sin_h
    reach = max((max(d.length_m, d.width_m) for d in defects), default=0.0)
    frame_i, defect_i = np.nonzero((forward > -reach) & (forward < MAX_RANGE_M + reach)
                                   & (np.abs(right) < MAX_RANGE_M + reach))
    columns = ["frame", "defect", "code", "name", "x1", "y1", "x2", "y2", "forward_m", "right_m", "visible"]
    if not len(frame_i):
        return pd.DataFrame(columns=columns)

    # Every candidate footprint moved into its frame's vehicle frame, all at once.
    footprints = np.array([d.footprint for d in defects], dtype=object)[defect_i]
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(footprints), return_index=True)
    dx = coords[:, 0] - poses["x"].to_numpy()[frame_i][ring]
    dy = coords[:, 1] - poses["y"].to_numpy()[frame_i][ring]
    s, c = sin_h[frame_i, 0][ring], cos_h[frame_i, 0][ring]
    local = shapely.polygons(shapely.linearrings(np.stack([dx * s + dy * c, dx * c - dy * s], axis=1),
                                                 indices=ring))
    clipped = shapely.intersection(local, view)
    shown = ~shapely.is_empty(clipped)
    pts, owner = shapely.get_coordinates(clipped[shown], return_index=True)
    u, v = camera.ground_to_pixel(pts[:, 0], pts[:, 1])
    box = pd.DataFrame({"owner": owner, "u": u, "v": v}).groupby("owner").agg(
        x1=("u", "min"), y1=("v", "min"), x2=("u", "max"), y2=("v", "max"))
    rows = np.flatnonzero(shown)[box.index.to_numpy()]
    out = pd.DataFrame({
        "frame": poses["frame"].to_numpy()[frame_i[rows]],
        "defect": np.array([d.id for d in defects])[defect_i[rows]],
        "code": np.array([d.code for d in defects])[defect_i[rows]],
        "x1": np.clip(box.x1.to_numpy(), 0, camera.width), "y1": np.clip(box.y1.to_numpy(), 0, camera.height),
        "x2": np.clip(box.x2.to_numpy(), 0, camera.width), "y2": np.clip(box.y2.to_numpy(), 0, camera.height),
        "forward_m": forward[frame_i[rows], defect_i[rows]], "right_m": right[frame_i[rows], defect_i[rows]],
        "visible": shapely.area(clipped[rows]) / shapely.area(local[rows]),
    })
    out.insert(3, "name", out["code"].map(human_name))
    big = (out.x2 - out.x1 >= MIN_BOX_WIDTH_PX) & (out.y2 - out.y1 >= MIN_BOX_HEIGHT_PX)
    return out[big].sort_values(["frame", "defect"]).reset_index(drop=True)[columns]
