"""Scoring a pipeline run against the sample drive's truth, in metres.

Observations are matched to truth boxes by frame and box corners (the truth oracle returns the
truth boxes themselves), so each error is that of one sighting of one known defect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from roadscan.geo.crs import to_metric
from roadscan.sample.drive import SampleDrive


def sighting_errors(observations: pd.DataFrame, drive: SampleDrive, *, atol_px: float = 0.5) -> pd.DataFrame:
    """Per observation matched to a truth box: defect, class, range ahead and ground error (m).

    `observations` needs frame_index, x1, y1, x2, y2, lat, lon (as stored). Returns columns
    obs_row (position in `observations`), true_x, true_y (the defect's centre, drive CRS), defect,
    code, forward_m (true range ahead of the camera), visible, error_m.
    """
    truth = drive.boxes().merge(drive.defects()[["id", "x", "y"]].rename(columns={"id": "defect"}), on="defect")
    pairs = observations.reset_index(drop=True).reset_index(names="obs_row").merge(
        truth, left_on="frame_index", right_on="frame", suffixes=("", "_true")).set_index("obs_row")
    same = np.ones(len(pairs), dtype=bool)
    for c in ("x1", "y1", "x2", "y2"):
        same &= np.abs(pairs[c].to_numpy(float) - pairs[f"{c}_true"].to_numpy(float)) <= atol_px
    pairs = pairs[same & pairs["lat"].notna()]
    gx, gy = to_metric(pairs["lon"], pairs["lat"], drive.crs)
    return pd.DataFrame({"obs_row": pairs.index.to_numpy(), "true_x": pairs["x"].to_numpy(),
                         "true_y": pairs["y"].to_numpy(),
                         "defect": pairs["defect"].to_numpy(), "code": pairs["code_true"].to_numpy(),
                         "forward_m": pairs["forward_m"].to_numpy(), "visible": pairs["visible"].to_numpy(),
                         "error_m": np.hypot(gx - pairs["x"].to_numpy(), gy - pairs["y"].to_numpy())})


def defect_errors(defects: pd.DataFrame, drive: SampleDrive, network) -> pd.DataFrame:
    """Each painted defect against the stored defects: how many it became, on which segment, how far off.

    `defects` are stored defects (lat, lon, code, segment_id, chainage_m); `network` the RoadNetwork
    they were snapped to. A painted defect is matched to the stored defects of its class family within
    5 m of it. Columns: defect, code, matches (how many stored defects), segment_ok (the nearest match
    lies on the segment the true position snaps to), chainage_error_m, position_error_m.
    """
    from roadscan.core.classes import FAMILY
    from roadscan.geo.snap import snap

    truth = drive.defects()
    crs = network.crs.to_string()
    tx, ty = to_metric(truth["lon"], truth["lat"], crs)
    true_snap = snap((tx, ty), network)
    dx, dy = to_metric(defects["lon"], defects["lat"], crs) if len(defects) else (np.empty(0), np.empty(0))
    family = defects["code"].map(FAMILY).to_numpy() if len(defects) else np.empty(0, dtype=object)
    rows = []
    for i, t in enumerate(truth.itertuples()):
        gap = np.hypot(dx - tx[i], dy - ty[i])
        near = np.flatnonzero((gap <= 5.0) & (family == FAMILY[t.code]))
        row = dict(defect=t.id, code=t.code, matches=len(near), segment_ok=False, chainage_error_m=np.nan,
                   position_error_m=np.nan)
        if len(near):
            best = near[np.argmin(gap[near])]
            row["position_error_m"] = gap[best]
            row["segment_ok"] = defects["segment_id"].iloc[best] == true_snap["segment_id"].iloc[i]
            if row["segment_ok"]:
                row["chainage_error_m"] = abs(defects["chainage_m"].iloc[best] - true_snap["chainage_m"].iloc[i])
        rows.append(row)
    return pd.DataFrame(rows)


PHANTOM_M = 1.5  # a stored defect farther than this from every painted one is a phantom (issue 17)


@dataclass
class Precision:
    """Stored defects against the painted truth, each stored defect counted once.

    One-to-one, nearest pairs first: a stored defect within `PHANTOM_M` of a painted defect that no
    nearer stored defect took is a true find; one within reach of painted defects that are all taken
    is a duplicate; one farther than `PHANTOM_M` from every painted defect is a phantom. Class is not
    compared: a pothole stored as an alligator crack is in the right place, which is what a crew needs.
    """

    stored: int
    painted: int
    found: int  # painted defects with a stored defect (one-to-one, within PHANTOM_M)
    phantoms: int
    duplicates: int
    phantom_ids: list = field(default_factory=list)  # the stored defects' `id` (or row) that are phantoms
    duplicate_ids: list = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.found / self.stored if self.stored else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.painted if self.painted else 1.0

    def line(self) -> str:
        return (f"precision {self.precision:.2f} ({self.found} of {self.stored} stored defects are painted ones; "
                f"{self.phantoms} phantoms farther than {PHANTOM_M:g} m from every painted defect, "
                f"{self.duplicates} duplicates of a painted defect already stored)")


def defect_precision(defects: pd.DataFrame, truth: pd.DataFrame, crs: str) -> Precision:
    """Phantoms and duplicates among stored `defects` (lat, lon[, id]) against painted `truth` (lat, lon)."""
    tx, ty = to_metric(truth["lon"], truth["lat"], crs)
    if not len(defects):
        return Precision(0, len(truth), 0, 0, 0)
    dx, dy = to_metric(defects["lon"], defects["lat"], crs)
    gap = np.hypot(np.asarray(dx)[:, None] - np.asarray(tx)[None, :], np.asarray(dy)[:, None] - np.asarray(ty)[None, :])
    ids = defects["id"].tolist() if "id" in defects else list(range(len(defects)))
    near = gap.min(axis=1) <= PHANTOM_M if gap.shape[1] else np.zeros(len(defects), bool)
    rows, cols = np.nonzero(gap <= PHANTOM_M)
    order = np.argsort(gap[rows, cols], kind="stable")
    taken_s, taken_t = set(), set()
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in taken_s and c not in taken_t:
            taken_s.add(r)
            taken_t.add(c)
    phantom = [ids[i] for i in np.flatnonzero(~near)]
    duplicate = [ids[i] for i in np.flatnonzero(near) if int(i) not in taken_s]
    return Precision(len(defects), len(truth), len(taken_t), len(phantom), len(duplicate), phantom, duplicate)
