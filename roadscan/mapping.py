"""A survey's observations onto the road network: snapped, merged into defects, scored, stored.

Glue between geo/ (snap, merge, severity, priority, condition) and the store: it runs inside the
survey's write transaction (`write_survey(then=...)`), so defects are merged against exactly what
the store holds and a failure leaves neither the survey nor its defects behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection

from roadscan.api.store.defects import (ACTIVE_STATUSES, DefectChanges, read_coverage, read_defects,
                                        write_defect_changes)
from roadscan.geo.condition import rate_bins, rate_segments
from roadscan.geo.crs import WGS84, to_metric, transformer
from roadscan.geo.merge import merge_into_existing, merge_observations
from roadscan.geo.priority import score_priority
from roadscan.geo.roads import RoadNetwork
from roadscan.geo.scoring import Scoring, resolve_scoring
from roadscan.geo.severity import assess_severity
from roadscan.geo.snap import snap

VIEW_AHEAD_M = 20.0  # how far ahead of the vehicle a defect is reliably detected: the stretch a pass covers
SEARCH_MARGIN_DEG = 0.003  # about 300 m: existing defects near the survey are read for matching


@dataclass
class MappingOptions:
    tolerance_m: float = 15.0  # snapping
    scoring: Scoring | str | Path | None = None
    places: gpd.GeoDataFrame | None = None  # sensitive places (schools, bus stops) with a `kind` column
    counts: dict[str, int] = field(default_factory=dict)  # filled in: new, updated, reopened, not re-observed


def _metric(network: RoadNetwork, lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return to_metric(lon, lat, network.crs.to_string())


def _lonlat(network: RoadNetwork, x, y) -> tuple[np.ndarray, np.ndarray]:
    return transformer(network.crs.to_string(), WGS84).transform(np.asarray(x, float), np.asarray(y, float))


def coverage_intervals(frames: pd.DataFrame, network: RoadNetwork, tolerance_m: float) -> pd.DataFrame:
    """Chainage intervals per segment that the camera saw: the driven stretch plus the view ahead."""
    if not len(frames):
        return pd.DataFrame(columns=["segment_id", "start_m", "end_m"])
    x, y = _metric(network, frames["lon"], frames["lat"])
    s = snap((x, y), network, tolerance_m, heading=frames["heading_deg"].to_numpy(float))
    s = s.assign(order=np.arange(len(s)))[s["on_network"].fillna(False).astype(bool)]
    if not len(s):
        return pd.DataFrame(columns=["segment_id", "start_m", "end_m"])
    g = s.sort_values("order").groupby("segment_id")["chainage_m"].agg(["min", "max", "first", "last"])
    length = network.segments.set_index("segment_id")["length_m"].reindex(g.index).to_numpy()
    forward = (g["last"] >= g["first"]).to_numpy()  # driven along the digitised direction
    start = np.where(forward, g["min"], np.maximum(0.0, g["min"] - VIEW_AHEAD_M))
    end = np.where(forward, np.minimum(length, g["max"] + VIEW_AHEAD_M), g["max"])
    return pd.DataFrame({"segment_id": g.index.to_numpy(), "start_m": start, "end_m": end})


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
    return scored.assign(lon=lon, lat=lat, on_network=scored["on_network"].astype("boolean").fillna(False).astype(int))


def _existing(conn: Connection, frames: pd.DataFrame, network: RoadNetwork) -> pd.DataFrame:
    bbox = (frames["lon"].min() - SEARCH_MARGIN_DEG, frames["lat"].min() - SEARCH_MARGIN_DEG,
            frames["lon"].max() + SEARCH_MARGIN_DEG, frames["lat"].max() + SEARCH_MARGIN_DEG)
    known = read_defects(None, bbox=bbox, conn=conn)
    x, y = _metric(network, known["lon"], known["lat"]) if len(known) else (np.empty(0), np.empty(0))
    return known.rename(columns={"id": "defect_id"}).assign(x=x, y=y, on_network=known["on_network"].astype(bool))


def _condition(network: RoadNetwork, segment_ids, opts: MappingOptions):
    """Condition rows for the given segments from all stored coverage and active defects."""
    def compute(conn: Connection) -> pd.DataFrame:
        segs = network.segments[network.segments["segment_id"].isin(set(segment_ids))]
        if not len(segs):
            return pd.DataFrame()
        covered = read_coverage(conn)
        covered = covered[covered["segment_id"].isin(segs["segment_id"])]
        active = read_defects(None, statuses=ACTIVE_STATUSES, conn=conn)
        active = active[active["segment_id"].isin(segs["segment_id"]) & (active["on_network"] == 1)]
        whole = rate_segments(segs, active, covered, scoring=opts.scoring).assign(level="segment", bin_start_m=None,
                                                                                   bin_end_m=None)
        bins = rate_bins(segs, active, covered, scoring=opts.scoring).assign(level="bin")
        bins = bins.rename(columns={"start_m": "bin_start_m", "end_m": "bin_end_m"})
        names = segs.set_index("segment_id")[["name", "road_class"]]
        bins = bins.join(names, on="segment_id")
        rows = pd.concat([whole, bins], ignore_index=True)
        rows = gpd.GeoDataFrame(rows, geometry="geometry", crs=network.crs).to_crs(WGS84)
        return pd.DataFrame({
            "segment_id": rows["segment_id"], "level": rows["level"], "bin_start_m": rows["bin_start_m"],
            "bin_end_m": rows["bin_end_m"], "road_name": rows["name"], "road_class": rows["road_class"],
            "covered_m": rows["covered_m"], "n_defects": rows["n_defects"],
            "index_per_100m": rows["index_per_100m"],
            "condition": rows["condition"].astype("object").where(rows["condition"].notna(), None),
            "condition_label": rows["condition_label"],
            "geometry_wkt": shapely.to_wkt(rows.geometry.values, rounding_precision=7)})
    return compute


def map_defects(conn: Connection, survey_id: int, obs_ids: list[int], obs: pd.DataFrame, frames: pd.DataFrame,
                network: RoadNetwork, opts: MappingOptions, *, gps_accuracy_m: float | None = None) -> dict[str, int]:
    """Snap, merge and score one survey's observations and write the result; returns change counts.

    `obs` rows are in the order of `obs_ids` (as stored), with frame_index, code, confidence, lat, lon,
    width_m, length_m, distance_m and the frame's heading; `frames` are the survey's sampled frames
    (frame_index, time, lat, lon, heading_deg).
    """
    obs = obs.reset_index(drop=True)
    located = obs[obs["lat"].notna()]
    x, y = _metric(network, located["lon"], located["lat"])
    snaps = snap((x, y), network, opts.tolerance_m, heading=located["heading"].to_numpy(float))
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

    coverage = coverage_intervals(frames, network, opts.tolerance_m)
    new = merge_observations(table, crs=network.crs)
    existing = _existing(conn, frames, network)
    updates, inserts, not_reobserved = merge_into_existing(existing, new, coverage)
    inserts, updates = _scored(inserts, network, opts), _scored(updates, network, opts)
    for frame in (inserts, updates):
        if len(frame):
            frame["obs_rows"] = frame["obs_ids"].map(list)
            frame["evidence_row"] = _evidence_rows(obs, frame["obs_rows"])

    touched = set(coverage["segment_id"]) | set(new["segment_id"].dropna())
    segs = network.to_wgs84()
    segs = segs[segs["segment_id"].isin(touched)]
    segments = pd.DataFrame({"segment_id": segs["segment_id"], "name": segs["name"], "road_class": segs["road_class"],
                             "speed_kmh": segs["speed_kmh"], "length_m": network.segments.loc[segs.index, "length_m"],
                             "network": str(network.path or "in memory"),
                             "geometry_wkt": shapely.to_wkt(segs.geometry.values, rounding_precision=7)})
    snap_cols = snaps[["segment_id", "chainage_m", "side", "offset_m", "on_network"]].copy()
    snap_cols["on_network"] = snap_cols["on_network"].astype("boolean").fillna(False).astype(int)
    changes = DefectChanges(inserts=inserts, updates=updates, not_reobserved=[int(i) for i in not_reobserved],
                            coverage=coverage, segments=segments, observation_snaps=snap_cols,
                            condition=_condition(network, set(coverage["segment_id"]), opts))
    counts = write_defect_changes(conn, survey_id, obs_ids, changes)
    opts.counts.update(counts)
    return counts


def resolve(opts: MappingOptions) -> MappingOptions:
    """Options with the scoring config loaded once (so a bad file fails before any work)."""
    opts.scoring = resolve_scoring(opts.scoring)
    return opts
