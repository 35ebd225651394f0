"""A survey's observations against the defects already known: what to insert, update and mark.

Everything here works on plain frames and a road network: the store reads the defects near the
survey (`search_bbox`), `plan_defect_changes` computes the changes (snap, merge, score, status
rules), and the store applies them in the survey's transaction. Then the touched segments are
rated again from what the store holds (`geo.condition.condition_table`).

Status rules (`status_changes`): a known defect seen again is updated; one marked "fixed" reopens,
one marked "not re-observed" is open again; one the camera had in view but did not detect becomes
"not re-observed" if it was open or scheduled (fixed and dismissed are a person's decision) - unless
the survey placed none of its detections on the ground (`placed_nothing`): then its camera profile
is wrong, not the road repaired, and nothing is marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from roadscan.core.changes import FOUND, REOPENED, SEEN_AGAIN, UNSEEN, DefectChanges
from roadscan.core.statuses import UNSEEN_MARKABLE, DefectStatus
from roadscan.core.tables import COVERAGE_COLUMNS, ROAD_REFERENCE_COLUMNS
from roadscan.geo.crs import WGS84, to_metric, transformer
from roadscan.geo.merge import merge_into_existing, merge_observations
from roadscan.geo.priority import score_priority
from roadscan.geo.roads import RoadNetwork
from roadscan.geo.scoring import Scoring, resolve_scoring
from roadscan.geo.severity import assess_severity
from roadscan.geo.snap import road_reference, snap

VIEW_AHEAD_M = 20.0  # how far ahead of the vehicle a defect is reliably detected: the stretch a pass covers
SEARCH_MARGIN_DEG = 0.003  # about 300 m: known defects this near the survey are read for matching

NOTES = {
    FOUND: "found by survey",
    REOPENED: "reopened: seen again by a survey after it was marked fixed",
    SEEN_AGAIN: "seen again by a survey",
    UNSEEN: "in view of a later survey but not detected: a candidate for repaired",
}


@dataclass
class MappingOptions:
    """How observations become defects: snapping tolerance, scoring weights, sensitive places."""

    tolerance_m: float = 15.0
    scoring: Scoring | str | Path | None = None
    places: gpd.GeoDataFrame | None = None  # sensitive places (schools, bus stops) with a `kind` column

    def resolved(self) -> MappingOptions:
        """These options with the scoring config loaded (so a bad file fails before any work)."""
        return MappingOptions(self.tolerance_m, resolve_scoring(self.scoring), self.places)


def _metric(network: RoadNetwork, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return to_metric(lon, lat, network.crs.to_string())


def _lonlat(network: RoadNetwork, x, y) -> tuple[np.ndarray, np.ndarray]:
    return transformer(network.crs.to_string(), WGS84).transform(np.asarray(x, float), np.asarray(y, float))


def search_bbox(frames: pd.DataFrame) -> tuple[float, float, float, float]:
    """The lon/lat box around a survey's frames in which known defects may match its sightings."""
    return (frames["lon"].min() - SEARCH_MARGIN_DEG, frames["lat"].min() - SEARCH_MARGIN_DEG,
            frames["lon"].max() + SEARCH_MARGIN_DEG, frames["lat"].max() + SEARCH_MARGIN_DEG)


def coverage_intervals(frames: pd.DataFrame, network: RoadNetwork, tolerance_m: float) -> pd.DataFrame:
    """Chainage intervals per segment that the camera saw: the driven stretch plus the view ahead."""
    if not len(frames):
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    x, y = _metric(network, frames["lon"], frames["lat"])
    s = snap((x, y), network, tolerance_m, heading=frames["heading_deg"].to_numpy(float))
    s = s.assign(order=np.arange(len(s)))[s["on_network"].fillna(False).astype(bool)]
    if not len(s):
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    g = s.sort_values("order").groupby("segment_id")["chainage_m"].agg(["min", "max", "first", "last"])
    length = network.segments.set_index("segment_id")["length_m"].reindex(g.index).to_numpy()
    forward = (g["last"] >= g["first"]).to_numpy()  # driven along the digitised direction
    start = np.where(forward, g["min"], np.maximum(0.0, g["min"] - VIEW_AHEAD_M))
    end = np.where(forward, np.minimum(length, g["max"] + VIEW_AHEAD_M), g["max"])
    return pd.DataFrame({"segment_id": g.index.to_numpy(), "start_m": start, "end_m": end})


def placed_nothing(obs: pd.DataFrame) -> bool:
    """True when a survey detected something but placed none of it on the ground (a broken camera
    profile, a horizon in the wrong place): its "not seen" says nothing about the road."""
    return bool(len(obs)) and not obs["lat"].notna().any()


def status_changes(seen: pd.DataFrame, unseen: pd.DataFrame) -> pd.DataFrame:
    """The status changes of known defects after a survey: defect_id, status, note, change.

    `seen`: defect_id and status of the known defects the survey matched; `unseen`: those it had in
    view but did not detect. Defects whose status stays as it is get no row.
    """
    seen_status = seen["status"].astype(object)
    reopen = seen[seen_status == DefectStatus.FIXED]
    again = seen[seen_status == DefectStatus.NOT_REOBSERVED]
    gone = unseen[unseen["status"].astype(object).isin(UNSEEN_MARKABLE)]
    parts = [(reopen, DefectStatus.OPEN, REOPENED), (again, DefectStatus.OPEN, SEEN_AGAIN),
             (gone, DefectStatus.NOT_REOBSERVED, UNSEEN)]
    rows = [pd.DataFrame({"defect_id": t["defect_id"].astype(int).to_numpy(), "status": str(status),
                          "note": NOTES[change], "change": change}) for t, status, change in parts if len(t)]
    if not rows:
        return pd.DataFrame(columns=["defect_id", "status", "note", "change"])
    return pd.concat(rows, ignore_index=True)


def _evidence_rows(obs: pd.DataFrame, groups: pd.Series) -> list[int | None]:
    """Per defect, the sighting whose frame shows it best: confident and near (but not cut off)."""
    out = []
    for rows in groups:
        sub = obs.loc[list(rows)]
        if not len(sub):
            out.append(None)
            continue
        score = sub["confidence"] / np.maximum(sub["distance_m"].fillna(30.0), 6.0)
        out.append(int(score.idxmax()))
    return out


def _scored(defects: pd.DataFrame, network: RoadNetwork, opts: MappingOptions) -> pd.DataFrame:
    if not len(defects):
        return defects
    places = opts.places.to_crs(network.crs) if opts.places is not None else None
    scored = score_priority(assess_severity(defects, opts.scoring), segments=network.segments,
                            places=places, scoring=opts.scoring)
    lon, lat = _lonlat(network, scored["x"], scored["y"])
    reference = road_reference(network, scored["segment_id"], scored["chainage_m"])
    return scored.assign(lon=lon, lat=lat, on_network=scored["on_network"].astype("boolean").fillna(False).astype(int),
                         **{c: reference[c].to_numpy() for c in ROAD_REFERENCE_COLUMNS})


def _known_in_metres(known: pd.DataFrame, network: RoadNetwork) -> pd.DataFrame:
    if not len(known):
        return pd.DataFrame(columns=["defect_id", "code", "status", "x", "y", "on_network"])
    x, y = _metric(network, known["lon"], known["lat"])
    return known.rename(columns={"id": "defect_id"}).assign(x=x, y=y, on_network=known["on_network"].astype(bool))


def _snapped_observations(obs: pd.DataFrame, frames: pd.DataFrame, network: RoadNetwork, survey_id: int,
                          tolerance_m: float, gps_accuracy_m: float | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the located observations in metres with their snap, the snap columns of every located row)."""
    located = obs[obs["lat"].notna()]
    x, y = _metric(network, located["lon"], located["lat"])
    snaps = snap((x, y), network, tolerance_m, heading=located["heading"].to_numpy(float))
    snaps.index = located.index
    times = frames.set_index("frame_index")["time"]
    table = pd.DataFrame({
        "obs_id": located.index, "survey_id": survey_id, "frame_index": located["frame_index"].astype(int),
        "time": times.reindex(located["frame_index"]).to_numpy(), "code": located["code"],
        "confidence": located["confidence"].astype(float), "x": x, "y": y,
        "width_m": located["width_m"].astype(float), "length_m": located["length_m"].astype(float),
        "distance_m": located["distance_m"].astype(float),
    }, index=located.index).join(snaps[["segment_id", "road_name", "road_class", "chainage_m", "side", "offset_m",
                                        "on_network"]])
    if gps_accuracy_m is not None and np.isfinite(gps_accuracy_m):
        table["gps_accuracy_m"] = gps_accuracy_m
    snap_cols = snaps[["segment_id", "chainage_m", "side", "offset_m", "on_network"]].copy()
    snap_cols["on_network"] = snap_cols["on_network"].astype("boolean").fillna(False).astype(int)
    return table, snap_cols


def _segment_rows(network: RoadNetwork, ids: set) -> pd.DataFrame:
    segs = network.to_wgs84()
    segs = segs[segs["segment_id"].isin(ids)]
    return pd.DataFrame({"segment_id": segs["segment_id"], "name": segs["name"], "road_class": segs["road_class"],
                         "speed_kmh": segs["speed_kmh"], "length_m": network.segments.loc[segs.index, "length_m"],
                         "network": str(network.path or "in memory"),
                         "geometry_wkt": shapely.to_wkt(segs.geometry.values, rounding_precision=7),
                         **{c: segs[c] if c in segs else None for c in ("source_id", "source_kind", "municipality_code",
                                                                        "road_code", "road_start_m")}})


def plan_defect_changes(obs: pd.DataFrame, frames: pd.DataFrame, known: pd.DataFrame, network: RoadNetwork,
                        opts: MappingOptions, *, survey_id: int = 0,
                        gps_accuracy_m: float | None = None) -> DefectChanges:
    """Snap, merge and score one survey's observations against the `known` defects near it.

    `obs`: the survey's observations in stored order (OBSERVATION_COLUMNS plus the frame's `heading`);
    `frames`: its sampled frames (frame_index, time, lat, lon, heading_deg); `known`: stored defects
    read within `search_bbox(frames)` (id, code, lon, lat, status, the snap columns and sizes).
    """
    obs = obs.reset_index(drop=True)
    table, snap_cols = _snapped_observations(obs, frames, network, survey_id, opts.tolerance_m, gps_accuracy_m)
    coverage = coverage_intervals(frames, network, opts.tolerance_m)
    new = merge_observations(table, crs=network.crs)
    existing = _known_in_metres(known, network)
    updates, inserts, not_reobserved = merge_into_existing(existing, new, coverage)
    if placed_nothing(obs):
        not_reobserved = []
    inserts, updates = _scored(inserts, network, opts), _scored(updates, network, opts)
    for frame in (inserts, updates):
        if len(frame):
            frame["obs_rows"] = frame["obs_ids"].map(list)
            frame["evidence_row"] = _evidence_rows(obs, frame["obs_rows"])
    if len(inserts):
        inserts["status"], inserts["note"] = str(DefectStatus.OPEN), NOTES[FOUND]

    status = existing.set_index("defect_id")["status"] if len(existing) else pd.Series(dtype=object)
    seen_ids = updates["defect_id"].to_numpy() if len(updates) else np.empty(0)
    seen = pd.DataFrame({"defect_id": seen_ids, "status": status.reindex(seen_ids).to_numpy()})
    unseen = pd.DataFrame({"defect_id": np.asarray(not_reobserved),
                           "status": status.reindex(np.asarray(not_reobserved)).to_numpy()})
    touched = set(coverage["segment_id"]) | set(new["segment_id"].dropna())
    return DefectChanges(inserts=inserts, updates=updates, status_changes=status_changes(seen, unseen),
                         coverage=coverage, segments=_segment_rows(network, touched), observation_snaps=snap_cols,
                         rate_segments=sorted(set(coverage["segment_id"])))
