"""Condition class 1-5 per road segment and per fixed-length bin, from the defects on it.

Index = sum of severity weights of the defects on the stretch, per 100 m driven:
    index = 100 x sum(weight[severity]) / max(covered length, min_length_m)
with weights 1, 2, 4, 8, 16 for severity 1-5 (each step doubles) and repairs ignored. The class
is 1 + the number of band thresholds the index reaches; defaults [2, 6, 15, 40]:

    class  label      index per 100 m   e.g. on 100 m driven
    1      good       < 2               nothing, or one severity-1 crack
    2      fair       2 - 6             one pothole of severity 3 (weight 4)
    3      poor       6 - 15            a severity-4 pothole and a few cracks
    4      very poor  15 - 40           two severity-4 potholes
    5      critical   >= 40             three severity-5 potholes

Bins use the same scale, so one severity-3 pothole makes its 20 m bin "very poor" (index 20): bins
show where on a segment the damage is. A stretch is rated only when at least min_covered_fraction
of it was driven (a track crossing a side road does not rate the side road); driven without
defects -> class 1; not driven -> no rating (<NA>, label "not surveyed"). The min_length_m floor keeps
short stubs from swinging to "critical" on a single crack. Weights and bands: [condition] in
scoring.toml.

Pass the defects that are open now (not repaired) and, as `covered`, what was driven: see
`covered_lengths`.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from roadscan.core.tables import CONDITION_COLUMNS
from roadscan.geo.coverage import covered_geometry
from roadscan.geo.crs import WGS84
from roadscan.geo.scoring import Scoring, resolve_scoring
from roadscan.geo.severity import assess_severity

NOT_SURVEYED = "not surveyed"


# --------------------------------------------------------------------------------------------- geometry

def _substrings(lines: np.ndarray, which: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The parts of LineStrings lines[which] between distances start and end: shapely.ops.substring,
    vectorised (each part is its end points plus the vertices strictly between them)."""
    n = len(which)
    if n == 0:
        return np.empty(0, dtype=object)
    coords, owner = shapely.get_coordinates(lines, return_index=True)
    first = np.r_[True, owner[1:] != owner[:-1]]
    last = np.r_[owner[1:] != owner[:-1], True]
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[first] = 0.0
    cum = np.cumsum(step)
    along = cum - np.maximum.accumulate(np.where(first, cum, 0.0))  # distance along its own line
    # one key increasing over all lines, so a single searchsorted finds each part's inner vertices
    line_len = np.zeros(len(lines))
    line_len[owner[last]] = along[last]
    shift = np.r_[0.0, np.cumsum(line_len + 1.0)[:-1]]
    key = along + shift[owner]
    lo = np.searchsorted(key, start + shift[which], side="right")
    hi = np.searchsorted(key, end + shift[which], side="left")
    inner = np.maximum(hi - lo, 0)
    counts = inner + 2
    offset = np.r_[0, np.cumsum(counts)[:-1]]
    out = np.empty((counts.sum(), 2))
    out[offset] = shapely.get_coordinates(shapely.line_interpolate_point(lines[which], start))
    out[offset + counts - 1] = shapely.get_coordinates(shapely.line_interpolate_point(lines[which], end))
    rows = np.repeat(np.arange(n), inner)
    within = np.arange(inner.sum()) - np.repeat(np.r_[0, np.cumsum(inner)[:-1]], inner)
    out[offset[rows] + 1 + within] = coords[lo[rows] + within]
    return shapely.linestrings(out, indices=np.repeat(np.arange(n), counts))


def _single_lines(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geometries as LineStrings where they can be (multi-lines merged); a mask of those that cannot."""
    merged = shapely.line_merge(geoms)
    simple = shapely.get_type_id(merged) == 1  # LineString
    return np.where(simple, merged, geoms), ~simple


def cut_bins(segments: gpd.GeoDataFrame, bin_length_m: float = 20.0) -> gpd.GeoDataFrame:
    """Each segment cut into bins of `bin_length_m` from its start (chainage 0); the last one shorter.

    Returns segment_id, bin_index, start_m, end_m, length_m and the bin's line geometry (segment CRS).
    """
    if bin_length_m <= 0:
        raise ValueError("bin_length_m must be positive")
    lines, multi = _single_lines(segments.geometry.to_numpy())
    length = shapely.length(lines)
    n_bins = np.maximum(np.ceil(length / bin_length_m - 1e-9), 1).astype(np.int64)
    n_bins = np.where(length > 0, n_bins, 0)
    seg_row = np.repeat(np.arange(len(segments)), n_bins)
    idx = np.arange(n_bins.sum()) - np.repeat(np.r_[0, np.cumsum(n_bins)[:-1]], n_bins)
    start = idx * bin_length_m
    end = np.minimum(start + bin_length_m, length[seg_row])
    geoms = np.empty(len(seg_row), dtype=object)
    plain = ~multi[seg_row]
    geoms[plain] = _substrings(lines, seg_row[plain], start[plain], end[plain])
    for k in np.flatnonzero(~plain):  # rare: a segment whose parts do not join
        geoms[k] = substring(lines[seg_row[k]], start[k], end[k])
    return gpd.GeoDataFrame({"segment_id": segments["segment_id"].to_numpy()[seg_row], "bin_index": idx,
                             "start_m": start, "end_m": end, "length_m": end - start},
                            geometry=geoms, crs=segments.crs)


# --------------------------------------------------------------------------------------------- coverage

def _merged_intervals(intervals: pd.DataFrame) -> pd.DataFrame:
    """Chainage intervals per segment, overlaps joined (two passes over one stretch count once)."""
    missing = {"segment_id", "start_m", "end_m"} - set(intervals.columns)
    if missing:
        raise ValueError(f"covered intervals lack the columns {sorted(missing)}")
    iv = pd.DataFrame({"seg": intervals["segment_id"].astype(str).to_numpy(),
                       "lo": np.minimum(intervals["start_m"], intervals["end_m"]).to_numpy(np.float64),
                       "hi": np.maximum(intervals["start_m"], intervals["end_m"]).to_numpy(np.float64)})
    iv = iv.sort_values(["seg", "lo"], kind="stable").reset_index(drop=True)
    reach = iv.groupby("seg")["hi"].cummax().groupby(iv["seg"]).shift()
    run = (reach.isna() | (iv["lo"] > reach)).cumsum()
    return iv.groupby(run).agg(seg=("seg", "first"), lo=("lo", "min"), hi=("hi", "max")).reset_index(drop=True)


def covered_lengths(segment_ids: pd.Series, start: np.ndarray, end: np.ndarray, lines: np.ndarray,
                    covered) -> np.ndarray:
    """Metres driven of each stretch (segment_id, start_m-end_m, its line geometry).

    `covered` is one of: a DataFrame of chainage intervals segment_id, start_m, end_m (what the camera
    saw of each segment; the precise form); a shapely geometry or GeoSeries, e.g. the driven track
    buffered by a few metres, in the segments' CRS (the stretch length inside it); an iterable of
    segment ids driven end to end.
    """
    n = len(start)
    if n == 0:
        return np.zeros(0)
    geometry = covered_geometry(covered)
    if geometry is not None:
        return shapely.length(shapely.intersection(lines, geometry))
    if isinstance(covered, pd.DataFrame):
        iv = _merged_intervals(covered)
        items = pd.DataFrame({"row": np.arange(n), "seg": segment_ids.astype(str).to_numpy(),
                              "start": start, "end": end})
        m = items.merge(iv, on="seg")
        overlap = (np.minimum(m["end"], m["hi"]) - np.maximum(m["start"], m["lo"])).clip(lower=0)
        return np.bincount(m["row"].to_numpy(np.int64), weights=overlap.to_numpy(), minlength=n)
    if covered is None:
        return np.zeros(n)
    ids = {str(s) for s in covered}
    return np.where(segment_ids.astype(str).isin(ids).to_numpy(), end - start, 0.0)


# --------------------------------------------------------------------------------------------- rating

def _defect_weights(defects: pd.DataFrame, sc: Scoring) -> pd.DataFrame:
    """On-network defects that count, with segment (as str), chainage, severity and weight."""
    cfg = sc.condition
    if defects is None or not len(defects):
        return pd.DataFrame({"seg": pd.Series(dtype=str), "ch": pd.Series(dtype=float),
                             "severity": pd.Series(dtype=np.int64), "weight": pd.Series(dtype=float)})
    if "severity" not in defects:
        defects = assess_severity(defects, sc)
    on = defects["segment_id"].notna()
    if "on_network" in defects:  # off the network, snap still names the nearest road: not its damage
        on &= defects["on_network"].astype("boolean").fillna(True)
    d = defects[on & ~defects["code"].isin(cfg.ignore_codes)]
    sev = pd.to_numeric(d["severity"], errors="coerce").fillna(1).clip(1, 5).astype(np.int64)
    return pd.DataFrame({"seg": d["segment_id"].astype(str).to_numpy(),
                         "ch": pd.to_numeric(d["chainage_m"], errors="coerce").to_numpy(np.float64),
                         "severity": sev.to_numpy(),
                         "weight": sev.map(cfg.severity_weights).to_numpy(np.float64)})


def _rate(table: pd.DataFrame, sc: Scoring) -> pd.DataFrame:
    """Add index_per_100m, condition (Int64, <NA> when not rated) and condition_label in place."""
    cfg = sc.condition
    length, covered = table["length_m"].to_numpy(np.float64), table["covered_m"].to_numpy(np.float64)
    rated = (covered > 0) & (covered >= cfg.min_covered_fraction * length - 1e-9)
    floor = max(cfg.min_length_m, 1e-9)
    index = 100.0 * table["weighted_defects"].to_numpy(np.float64) / np.maximum(covered, floor)
    cls = 1 + np.searchsorted(np.asarray(cfg.bands), index, side="right")
    table["index_per_100m"] = np.where(rated, np.round(index, 3), np.nan)
    table["condition"] = pd.array(np.where(rated, cls, 0), dtype="Int64")
    table.loc[~rated, "condition"] = pd.NA
    table["condition_label"] = np.where(rated, np.asarray(cfg.labels, dtype=object)[cls - 1], NOT_SURVEYED)
    return table


def _tally(keys: pd.DataFrame, hits: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """n_defects, weighted_defects, worst_severity per row of `keys` from the defects `hits`."""
    agg = hits.groupby(on).agg(n_defects=("weight", "size"), weighted_defects=("weight", "sum"),
                               worst_severity=("severity", "max"))
    out = keys[on].merge(agg, left_on=on, right_index=True, how="left")
    return pd.DataFrame({"n_defects": out["n_defects"].fillna(0).astype(np.int64).to_numpy(),
                         "weighted_defects": out["weighted_defects"].fillna(0.0).to_numpy(),
                         "worst_severity": pd.array(out["worst_severity"].to_numpy(), dtype="Int64")},
                        index=keys.index)


def rate_segments(segments: gpd.GeoDataFrame, defects: pd.DataFrame, covered, *,
                  scoring: Scoring | str | Path | None = None) -> gpd.GeoDataFrame:
    """One row per segment: segment_id, name, road_class, length_m, covered_m, n_defects,
    weighted_defects, worst_severity, index_per_100m, condition (1-5 or <NA>), condition_label, geometry.

    `segments`: segment_id, geometry (metric CRS) and, where present, name and road_class. `defects`:
    segment_id, chainage_m, code and severity (computed when absent). `covered`: see covered_lengths.
    """
    sc = resolve_scoring(scoring)
    lines, _ = _single_lines(segments.geometry.to_numpy())
    length = shapely.length(lines)
    out = gpd.GeoDataFrame({"segment_id": segments["segment_id"].to_numpy()}, geometry=segments.geometry.to_numpy(),
                           crs=segments.crs)
    for c in ("name", "road_class"):
        out[c] = segments[c].to_numpy() if c in segments else None
    out["length_m"] = length
    out["covered_m"] = np.minimum(covered_lengths(segments["segment_id"], np.zeros(len(out)), length,
                                                  lines, covered), length)
    hits = _defect_weights(defects, sc)
    out["seg"] = out["segment_id"].astype(str)
    out = pd.concat([out, _tally(out, hits, ["seg"])], axis=1).drop(columns="seg")
    out = _rate(out, sc)
    return out[["segment_id", "name", "road_class", "length_m", "covered_m", "n_defects", "weighted_defects",
                "worst_severity", "index_per_100m", "condition", "condition_label", "geometry"]]


def rate_bins(segments: gpd.GeoDataFrame, defects: pd.DataFrame, covered, *, bin_length_m: float | None = None,
              scoring: Scoring | str | Path | None = None) -> gpd.GeoDataFrame:
    """Bins of the segments that were driven at all (`cut_bins`), each rated like a segment.

    Columns: segment_id, bin_index, start_m, end_m, length_m, covered_m, n_defects, weighted_defects,
    worst_severity, index_per_100m, condition, condition_label, geometry. A defect falls in the bin
    holding its chainage (clipped to the segment). `bin_length_m` defaults to [condition] bin_length_m.
    """
    sc = resolve_scoring(scoring)
    bin_length_m = bin_length_m or sc.condition.bin_length_m
    lines, _ = _single_lines(segments.geometry.to_numpy())
    length = shapely.length(lines)
    seg_cov = covered_lengths(segments["segment_id"], np.zeros(len(segments)), length, lines, covered)
    driven = segments[seg_cov > 0]
    bins = cut_bins(driven, bin_length_m)
    bins["covered_m"] = np.minimum(covered_lengths(bins["segment_id"], bins["start_m"].to_numpy(),
                                                   bins["end_m"].to_numpy(), bins.geometry.to_numpy(), covered),
                                   bins["length_m"].to_numpy())
    hits = _defect_weights(defects, sc)
    n_bins = bins.groupby(bins["segment_id"].astype(str)).size()
    hits = hits[hits["seg"].isin(n_bins.index)].copy()
    last = n_bins.reindex(hits["seg"]).to_numpy() - 1
    chainage = np.nan_to_num(hits["ch"].to_numpy())
    hits["bin_index"] = np.clip(np.floor(chainage / bin_length_m), 0, last).astype(np.int64)
    bins["seg"] = bins["segment_id"].astype(str)
    bins = pd.concat([bins, _tally(bins, hits, ["seg", "bin_index"])], axis=1).drop(columns="seg")
    bins = _rate(bins, sc)
    return bins[["segment_id", "bin_index", "start_m", "end_m", "length_m", "covered_m", "n_defects",
                 "weighted_defects", "worst_severity", "index_per_100m", "condition", "condition_label",
                 "geometry"]]


def condition_table(segments: gpd.GeoDataFrame, defects: pd.DataFrame, covered, *,
                    scoring: Scoring | str | Path | None = None) -> pd.DataFrame:
    """Condition rows to store for `segments` (metric CRS): one per segment and one per bin driven.

    Columns CONDITION_COLUMNS (core.tables), geometry as EPSG:4326 WKT; `defects` are the active
    defects on these segments and `covered` the stored coverage of them (chainage intervals), so a
    segment is rated from every survey, not only the last.
    """
    if not len(segments):
        return pd.DataFrame(columns=CONDITION_COLUMNS)
    whole = rate_segments(segments, defects, covered, scoring=scoring).assign(level="segment", bin_start_m=None,
                                                                             bin_end_m=None)
    bins = rate_bins(segments, defects, covered, scoring=scoring).assign(level="bin")
    bins = bins.rename(columns={"start_m": "bin_start_m", "end_m": "bin_end_m"})
    bins = bins.join(segments.set_index("segment_id")[["name", "road_class"]], on="segment_id")
    rows = gpd.GeoDataFrame(pd.concat([whole, bins], ignore_index=True), geometry="geometry",
                            crs=segments.crs).to_crs(WGS84)
    return pd.DataFrame({
        "segment_id": rows["segment_id"], "level": rows["level"], "bin_start_m": rows["bin_start_m"],
        "bin_end_m": rows["bin_end_m"], "road_name": rows["name"], "road_class": rows["road_class"],
        "covered_m": rows["covered_m"], "n_defects": rows["n_defects"], "index_per_100m": rows["index_per_100m"],
        "condition": rows["condition"].astype("object").where(rows["condition"].notna(), None),
        "condition_label": rows["condition_label"],
        "geometry_wkt": shapely.to_wkt(rows.geometry.values, rounding_precision=7)})
