"""Scoring a pipeline run against the sample drive's truth, in metres.

Observations are matched to truth boxes by frame and box corners (the truth oracle returns the
truth boxes themselves), so each error is that of one sighting of one known defect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from roadscan.geo.crs import to_metric
from roadscan.sample.drive import SampleDrive


def sighting_errors(observations: pd.DataFrame, drive: SampleDrive, *, atol_px: float = 0.5) -> pd.DataFrame:
    """Per observation matched to a truth box: defect, class, range ahead and ground error (m).

    `observations` needs frame_index, x1, y1, x2, y2, lat, lon (as stored). Returns columns
    defect, code, forward_m (true range ahead of the camera), visible, error_m.
    """
    truth = drive.boxes().merge(drive.defects()[["id", "x", "y"]].rename(columns={"id": "defect"}), on="defect")
    pairs = observations.merge(truth, left_on="frame_index", right_on="frame", suffixes=("", "_true"))
    same = np.ones(len(pairs), dtype=bool)
    for c in ("x1", "y1", "x2", "y2"):
        same &= np.abs(pairs[c].to_numpy(float) - pairs[f"{c}_true"].to_numpy(float)) <= atol_px
    pairs = pairs[same & pairs["lat"].notna()]
    gx, gy = to_metric(pairs["lon"], pairs["lat"], drive.crs)
    return pd.DataFrame({"defect": pairs["defect"].to_numpy(), "code": pairs["code_true"].to_numpy(),
                         "forward_m": pairs["forward_m"].to_numpy(), "visible": pairs["visible"].to_numpy(),
                         "error_m": np.hypot(gx - pairs["x"].to_numpy(), gy - pairs["y"].to_numpy())})
