"""Observations (one detection in one frame) into defects (one physical thing on the road).

Within a survey a defect is seen in several consecutive frames (frames every ~3 m, defects visible
up to ~25 m ahead: 3-8 sightings). `merge_observations` groups the sightings; `merge_into_existing`
matches the defects of a new survey against those already known.

How sightings are grouped (`merge_observations`)
-----------------------------------------------
1. Candidates. Two sightings may be linked only if they belong to the same survey and class family
   (cracks D00/D10/D20 are confused with each other, so they form one family; D40 "pothole" and
   Repair "repair" are their own) and their frames are at most `max_frame_gap` detection frames
   apart (frame rank within the survey, so that raw video frame numbers with gaps work). Pairs come
   from a join on (survey, family, frame rank + lag): O(n x sightings per frame), never O(n^2).
2. Distance. On the same segment, the normalised distance is
   hypot(d_chainage / along, d_offset / across) with
       along  = max(min_along_m, accuracy_factor x gps accuracy) + footprint_factor x length
                + range_factor x camera distance
       across = max(min_across_m, accuracy_factor x gps accuracy) + footprint_factor x width
   (the larger value of the two sightings for each term; missing accuracy -> default_accuracy_m).
   Off the network (`on_network` False, even where snap names the nearest road), or across two
   segments (a defect at a junction snaps to either), the planar distance over `along` is used.
   A pair with distance <= 1 is a candidate.
3. Constrained single linkage. Candidates are joined in order of distance (Kruskal) unless the two
   groups hold a sighting of the same class in the same frame: the detector suppresses duplicate
   boxes of one class, so two such boxes are two defects. This is what keeps two potholes 6 m apart,
   seen in the same frames, apart even when poor GPS makes the tolerance wider than 6 m; and it is
   still transitive along a sequence of frames. (A D00 and a D10 box on the same crack in one frame
   may merge: class-wise suppression keeps both.)
4. Passes. Groups of the same survey and family whose centres lie within tolerance (no range term:
   a centre is weighted to its near sightings) and which share no (frame, class) are joined the same
   way: a defect lost for a few frames, or seen again on the way back, stays one defect.
5. One spot, one defect. Groups of the same survey but of different families (a pothole, and the
   "alligator crack" the detector also boxes around it) whose centres lie within `COLOCATED` of each
   other (footprint-sized: the smaller thing's centre inside the larger one's footprint, give or take
   a metre) become one defect; a defect holds at most one group per family, so two potholes beside
   one large crack stay two defects. Its primary class is that of the family crews act on first
   (`PRIMARY_FAMILIES`: pothole, then crack, then repair), and within a family the class with the most
   summed confidence; its position, segment and size are the primary group's; its sightings, counts
   and confidences are all of them; `other_classes` lists the other classes its sightings were given
   (comma-separated codes in class order; None when there are none).

Each defect then gets the class with the most summed confidence, a position weighted by
confidence / camera distance (a near sighting projects more precisely onto the ground), the
majority segment (by that weight) with chainage and offset averaged over the sightings on it, and
median width and length.

Across surveys (`merge_into_existing`) the same two rules hold: a known defect and a new one match if
they share a family (the primary's or one of `other_classes`) and lie within tolerance, or lie within
`COLOCATED` whatever their families; the primary class of the match is chosen as in step 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from roadscan.core.classes import CLASS_CODES, FAMILY, human_name
from roadscan.core.tables import MERGED_DEFECT_COLUMNS as DEFECT_COLUMNS
from roadscan.core.tables import SNAP_COLUMNS
from roadscan.core.tables import SNAPPED_OBSERVATION_COLUMNS as REQUIRED
from roadscan.geo.coverage import covered_geometry

NEAR_FLOOR_M = 2.0       # closer sightings get no extra weight
UNKNOWN_RANGE_M = 10.0   # camera distance assumed where it is missing
PRIMARY_FAMILIES = ("pothole", "crack", "repair")  # one spot's primary class: crews act on potholes first


@dataclass(frozen=True)
class MergeTolerance:
    """How far apart two sightings (or two defects) of one physical defect may appear. See module doc."""

    min_along_m: float = 2.0
    min_across_m: float = 1.0
    accuracy_factor: float = 2.0       # x the GPS accuracy (metres, 1 sigma) where known
    default_accuracy_m: float = 1.0    # accuracy assumed where the observations carry none
    footprint_factor: float = 0.5      # x footprint length (along) / width (across): big things' centres wander
    range_factor: float = 0.05         # x camera distance, along only: ground projection degrades with range
    max_frame_gap: int = 3             # link sightings at most this many detection frames apart

    def along(self, acc, length, distance):
        acc = np.where(np.isfinite(acc), acc, self.default_accuracy_m)
        return (np.maximum(self.min_along_m, self.accuracy_factor * acc)
                + self.footprint_factor * np.nan_to_num(length) + self.range_factor * np.nan_to_num(distance))

    def across(self, acc, width):
        acc = np.where(np.isfinite(acc), acc, self.default_accuracy_m)
        return np.maximum(self.min_across_m, self.accuracy_factor * acc) + self.footprint_factor * np.nan_to_num(width)


# Different families are one defect only where their footprints meet: the smaller thing's centre within
# half the larger one's footprint, plus a metre along and half a metre across (or the GPS accuracy).
COLOCATED = MergeTolerance(min_along_m=1.0, min_across_m=0.5, accuracy_factor=1.0, footprint_factor=0.5,
                           range_factor=0.0)


class MergeResult(NamedTuple):
    updates: pd.DataFrame       # existing defects, updated (one row per matched existing defect)
    inserts: pd.DataFrame       # new defects that matched nothing
    not_reobserved: pd.Index    # defect_id of existing defects in the covered stretch that were not seen


# --------------------------------------------------------------------------------------------- helpers

def family_of(codes: pd.Series) -> pd.Series:
    """Class family per code; a code we do not know is its own family."""
    return codes.map(FAMILY).fillna(codes.astype(str))


def _lateral(offset: pd.Series, side: pd.Series) -> np.ndarray:
    """Signed offset (left negative) whichever convention the snap used: signed, or absolute + side."""
    off = pd.to_numeric(offset, errors="coerce").to_numpy(dtype=np.float64)
    left = side.astype("string").str.lower().str.startswith("l").fillna(False).to_numpy(dtype=bool)
    return np.where(left & (off > 0), -off, np.nan_to_num(off))


def _with_snap_columns(table: pd.DataFrame) -> pd.DataFrame:
    """Observations without a network (no snap columns) are all off-network; without `on_network`,
    those with a segment are on it."""
    missing = [c for c in SNAP_COLUMNS if c not in table.columns]
    if not missing:
        return table
    table = table.copy()
    for c in missing:
        if c == "on_network":
            table[c] = table["segment_id"].notna() if "segment_id" in table else False
        else:
            table[c] = np.nan if c in ("chainage_m", "offset_m") else None
    return table


def _on_network(table: pd.DataFrame) -> np.ndarray:
    on = table["on_network"].astype("boolean").fillna(True).to_numpy(dtype=bool)  # unknown: trust segment_id
    return on & table["segment_id"].notna().to_numpy()


def _segment_key(table: pd.DataFrame) -> np.ndarray:
    """Segment ids as strings, '' off the network (snap names the nearest road even there), so that
    equality tests are plain numpy."""
    seg = table["segment_id"].astype("string").fillna("").to_numpy(dtype=object)
    return np.where(_on_network(table), seg, "")


def _pair_distance(a: dict, b: dict, ia, ib, tol: MergeTolerance, *, combine_accuracy) -> np.ndarray:
    """Normalised distance (<= 1: within tolerance) of items ia of `a` to items ib of `b`."""
    fill = tol.default_accuracy_m
    acc = combine_accuracy(np.nan_to_num(a["acc"][ia], nan=fill), np.nan_to_num(b["acc"][ib], nan=fill))
    along = tol.along(acc, np.fmax(a["length"][ia], b["length"][ib]), np.fmax(a["range"][ia], b["range"][ib]))
    across = tol.across(acc, np.fmax(a["width"][ia], b["width"][ib]))
    sa, sb = a["seg"][ia], b["seg"][ib]
    ca, cb = a["ch"][ia], b["ch"][ib]
    same = (sa == sb) & (sa != "") & np.isfinite(ca) & np.isfinite(cb)
    r_seg = np.hypot((ca - cb) / along, (a["lat"][ia] - b["lat"][ib]) / across)
    r_plane = np.hypot(a["x"][ia] - b["x"][ib], a["y"][ia] - b["y"][ib]) / along
    return np.where(same, r_seg, r_plane)


def _items(table: pd.DataFrame, *, range_col: str | None) -> dict:
    """Numpy columns of a table of sightings or defects, as `_pair_distance` reads them."""
    num = lambda c: pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=np.float64) if c in table else \
        np.full(len(table), np.nan)
    return dict(seg=_segment_key(table), ch=num("chainage_m"),
                lat=_lateral(table["offset_m"], table["side"]), x=num("x"), y=num("y"),
                acc=num("gps_accuracy_m"), length=num("length_m"), width=num("width_m"),
                range=num(range_col) if range_col else np.zeros(len(table)),
                family=family_of(table["code"]).to_numpy(dtype=object))


def _search_radius(a: dict, b: dict, tol: MergeTolerance, combine_accuracy) -> float:
    """An upper bound of the planar distance of any pair that can be within tolerance."""
    big = lambda v: float(np.nanmax(v)) if len(v) and np.isfinite(v).any() else 0.0
    acc = combine_accuracy(np.array([max(big(a["acc"]), tol.default_accuracy_m)]),
                           np.array([max(big(b["acc"]), tol.default_accuracy_m)]))
    along = tol.along(acc, max(big(a["length"]), big(b["length"])), max(big(a["range"]), big(b["range"])))
    across = tol.across(acc, max(big(a["width"]), big(b["width"])))
    return float(np.hypot(along, across)[0]) * 1.01 + 1e-6


def _constrained_union(n: int, pi: np.ndarray, pj: np.ndarray, keys: list[set]) -> np.ndarray:
    """Single linkage over pairs in the given order, refusing joins whose groups share a key.

    `keys[k]` is the set of (frame, class) of item k; it is consumed. Returns a group label per item.
    One pass over the candidate pairs; sets merge small into large.
    """
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in zip(pi.tolist(), pj.tolist()):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ka, kb = keys[ra], keys[rb]
        if len(ka) < len(kb):
            ra, rb, ka, kb = rb, ra, kb, ka
        if not ka.isdisjoint(kb):
            continue
        ka |= kb
        keys[rb] = None
        parent[rb] = ra
    roots = np.fromiter((find(a) for a in range(n)), dtype=np.int64, count=n)
    return np.unique(roots, return_inverse=True)[1]


def _frame_pairs(obs: pd.DataFrame, family: pd.Series, max_gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sighting pairs of one survey and family at most `max_gap` detection frames apart (i before j)."""
    rank = obs.groupby("survey_id", sort=False)["frame_index"].rank(method="dense").astype(np.int64)
    base = pd.DataFrame({"i": np.arange(len(obs)), "s": pd.factorize(obs["survey_id"])[0],
                         "f": pd.factorize(family)[0], "r": rank.to_numpy(),
                         "c": pd.factorize(obs["code"])[0]})
    pi, pj, lags = [], [], []
    for lag in range(max_gap + 1):
        m = base.merge(base.assign(r=base["r"] - lag), on=["s", "f", "r"], suffixes=("", "_j"))
        if lag == 0:  # the same frame: only boxes of different classes (D00 + D10 on one crack)
            m = m[(m["i"] < m["i_j"]) & (m["c"] != m["c_j"])]
        pi.append(m["i"].to_numpy())
        pj.append(m["i_j"].to_numpy())
        lags.append(np.full(len(m), lag))
    return np.concatenate(pi), np.concatenate(pj), np.concatenate(lags)


def _top_by(df: pd.DataFrame, key: str, value: str, weight: str) -> pd.Series:
    """Per `key`, the `value` with the largest summed `weight` (ties: the first value in sort order)."""
    sums = df.groupby([key, value], sort=True)[weight].sum().reset_index()
    sums = sums.sort_values([key, weight], ascending=[True, False], kind="stable").drop_duplicates(key)
    return sums.set_index(key)[value]


def _summarise(obs: pd.DataFrame, label: np.ndarray, lateral: np.ndarray) -> pd.DataFrame:
    """One row per label: the defect's class, position, size, counts and times (module doc)."""
    dist = pd.to_numeric(obs["distance_m"], errors="coerce").fillna(UNKNOWN_RANGE_M).clip(lower=NEAR_FLOOR_M)
    conf = obs["confidence"].astype(np.float64)
    df = pd.DataFrame({
        "label": label, "survey_id": obs["survey_id"].to_numpy(), "code": obs["code"].to_numpy(),
        "conf": conf.to_numpy(), "w": (conf / dist).to_numpy(),
        "x": obs["x"].to_numpy(np.float64), "y": obs["y"].to_numpy(np.float64),
        "seg": obs["segment_id"].astype("string").to_numpy(), "onnet": _on_network(obs),
        "ch": pd.to_numeric(obs["chainage_m"]).to_numpy(), "lat": lateral,
        "off": pd.to_numeric(obs["offset_m"]).to_numpy(), "side": obs["side"].to_numpy(),
        "road_name": obs["road_name"].to_numpy(), "road_class": obs["road_class"].to_numpy(),
        "width": pd.to_numeric(obs["width_m"]).to_numpy(), "length": pd.to_numeric(obs["length_m"]).to_numpy(),
        "acc": pd.to_numeric(obs["gps_accuracy_m"]).to_numpy() if "gps_accuracy_m" in obs else np.nan,
        "time": obs["time"].array, "obs_id": obs["obs_id"].to_numpy(),
    })
    df["wx"], df["wy"] = df["w"] * df["x"], df["w"] * df["y"]
    g = df.groupby("label", sort=True)
    out = pd.DataFrame({"survey_id": g["survey_id"].first()})
    out["code"] = _top_by(df, "label", "code", "conf")
    wsum = g["w"].sum()
    out["x"] = g["wx"].sum() / wsum
    out["y"] = g["wy"].sum() / wsum

    # segment, chainage, offset, side: from the sightings on the majority segment (on the network if
    # any sighting is; otherwise the nearest road that snap named, with on_network False)
    named = df[df["seg"].notna()]
    sums = named.groupby(["label", "onnet", "seg"], sort=True)["w"].sum().reset_index()
    top = sums.sort_values(["label", "onnet", "w"], ascending=[True, False, False],
                           kind="stable").drop_duplicates("label").set_index("label")
    out["segment_id"] = top["seg"].astype(object)
    out["segment_id"] = out["segment_id"].where(out["segment_id"].notna(), None)
    out["on_network"] = top["onnet"].reindex(out.index).fillna(False).astype(bool)
    chosen = top.reindex(named["label"])
    major = named[(named["seg"].to_numpy() == chosen["seg"].to_numpy())
                  & (named["onnet"].to_numpy() == chosen["onnet"].to_numpy())].copy()
    for c in ("ch", "lat", "off"):
        major[f"w{c}"] = major["w"] * major[c]
    gm = major.groupby("label", sort=True)
    mw = gm["w"].sum()
    out["chainage_m"] = gm["wch"].sum() / mw
    out["offset_m"] = gm["woff"].sum() / mw
    out["lateral"] = (gm["wlat"].sum() / mw).reindex(out.index).fillna(0.0)
    out["side"] = _top_by(major.dropna(subset=["side"]), "label", "side", "w")
    out["road_name"] = gm["road_name"].first()
    out["road_class"] = gm["road_class"].first()

    out["width_m"] = g["width"].median()
    out["length_m"] = g["length"].median()
    out["area_m2"] = out["width_m"] * out["length_m"].fillna(out["width_m"])
    out["n_obs"] = g.size()
    out["n_surveys"] = 1
    out["max_confidence"] = g["conf"].max()
    out["mean_confidence"] = g["conf"].mean()
    out["first_seen"] = g["time"].min()
    out["last_seen"] = g["time"].max()
    out["gps_accuracy_m"] = g["acc"].median()
    ids = df.sort_values("obs_id", kind="stable").groupby("label", sort=True)["obs_id"]
    out["obs_ids"] = ids.agg(list)
    out["defect_key"] = out["survey_id"].astype(str) + ":" + ids.min().astype(str)
    out["family"] = family_of(out["code"])
    out["name"] = out["code"].map(human_name)
    out["other_classes"] = None
    return out


def _family_rank(family) -> np.ndarray:
    """Position of each family in PRIMARY_FAMILIES (unknown families last)."""
    rank = {f: i for i, f in enumerate(PRIMARY_FAMILIES)}
    return np.array([rank.get(f, len(rank)) for f in np.asarray(family, dtype=object)], dtype=np.int64)


def other_classes(codes, primary: str) -> str | None:
    """The codes besides `primary`, once each, in class order, comma-separated; None when there are none."""
    order = {c: i for i, c in enumerate(CLASS_CODES)}
    rest = sorted({str(c) for c in codes if c is not None and str(c) != "" and str(c) != primary},
                  key=lambda c: (order.get(c, len(order)), c))
    return ",".join(rest) or None


def _split_classes(value) -> list[str]:
    return [c for c in str(value).split(",") if c] if isinstance(value, str) else []


def _join_families(obs: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Step 5 of the module doc: co-located groups of different families become one defect."""
    g_items = _items(groups.assign(offset_m=groups["lateral"], side=None), range_col=None)
    gi, gj = _near_pairs(g_items, g_items, COLOCATED, np.fmax)
    cross = (gi < gj) & (groups["survey_id"].to_numpy()[gi] == groups["survey_id"].to_numpy()[gj]) & \
            (g_items["family"][gi] != g_items["family"][gj])
    gi, gj = gi[cross], gj[cross]
    r = _pair_distance(g_items, g_items, gi, gj, COLOCATED, combine_accuracy=np.fmax)
    keep = r <= 1.0
    order = np.lexsort((gj[keep], gi[keep], r[keep]))
    spot = _constrained_union(len(groups), gi[keep][order], gj[keep][order], [{f} for f in g_items["family"]])
    codes = obs.set_index("obs_id")["code"]
    out = groups.reset_index(drop=True).assign(_spot=spot, _rank=_family_rank(g_items["family"]),
                                               _weight=groups["n_obs"].to_numpy() * groups["mean_confidence"].to_numpy())
    rows = []
    for _, g in out.groupby("_spot", sort=False):
        g = g.sort_values(["_rank", "_weight"], ascending=[True, False], kind="stable")
        row = g.iloc[0].copy()
        if len(g) > 1:
            n = g["n_obs"].sum()
            row["mean_confidence"] = float((g["n_obs"] * g["mean_confidence"]).sum() / n)
            row["n_obs"], row["max_confidence"] = int(n), float(g["max_confidence"].max())
            row["first_seen"], row["last_seen"] = g["first_seen"].min(), g["last_seen"].max()
            row["obs_ids"] = sorted(i for ids in g["obs_ids"] for i in ids)
            row["defect_key"] = f"{row['survey_id']}:{row['obs_ids'][0]}"
        row["other_classes"] = other_classes(codes.reindex(row["obs_ids"]).tolist(), row["code"])
        rows.append(row)
    return pd.DataFrame(rows).drop(columns=["_spot", "_rank", "_weight"]).reset_index(drop=True)


def _frame_keys(obs: pd.DataFrame) -> list[int]:
    """(frame, class) of each sighting as one int: a defect holds at most one sighting per key."""
    code = pd.factorize(obs["code"])[0].astype(np.int64)
    return (obs["frame_index"].to_numpy(np.int64) * 64 + code).tolist()


def _empty_defects(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in DEFECT_COLUMNS}, geometry=gpd.GeoSeries(crs=crs),
                            crs=crs)


# --------------------------------------------------------------------------------------------- public

def merge_observations(obs: pd.DataFrame, *, crs=None, tolerance: MergeTolerance = MergeTolerance()
                       ) -> gpd.GeoDataFrame:
    """Group one or more surveys' observations into defects (see the module doc for the rule).

    `obs` has the columns of REQUIRED, the snap columns of SNAP_COLUMNS (absent: all off-network) and
    optionally `gps_accuracy_m`; x, y are metres in `crs`. Returns a GeoDataFrame of DEFECT_COLUMNS with
    point geometry in `crs`, one row per defect, ordered by survey and first sighting; `defect_key`
    ("survey_id:smallest obs_id") is stable as long as the same observations are merged.
    """
    missing = [c for c in REQUIRED if c not in obs.columns]
    if missing:
        raise ValueError(f"observations lack the columns {missing}")
    if not len(obs):
        return _empty_defects(crs)
    obs = _with_snap_columns(obs).reset_index(drop=True)
    family = family_of(obs["code"])
    items = _items(obs, range_col="distance_m")
    items["range"] = np.nan_to_num(items["range"], nan=UNKNOWN_RANGE_M)

    # 1-3: sightings -> groups, along the frame sequence
    pi, pj, lag = _frame_pairs(obs, family, tolerance.max_frame_gap)
    r = _pair_distance(items, items, pi, pj, tolerance, combine_accuracy=np.fmax)
    keep = r <= 1.0
    order = np.lexsort((pj[keep], pi[keep], lag[keep], r[keep]))
    keys = _frame_keys(obs)
    label = _constrained_union(len(obs), pi[keep][order], pj[keep][order], [{k} for k in keys])

    # 4: groups -> defects, across gaps and passes
    groups = _summarise(obs, label, items["lat"])
    group_keys = [set() for _ in range(len(groups))]
    for k, lab in zip(keys, label.tolist()):
        group_keys[lab].add(k)
    g_items = _items(groups.assign(offset_m=groups["lateral"], side=None), range_col=None)
    gi, gj = _near_pairs(g_items, g_items, tolerance, np.fmax)
    same = (gi < gj) & (groups["survey_id"].to_numpy()[gi] == groups["survey_id"].to_numpy()[gj]) & \
           (g_items["family"][gi] == g_items["family"][gj])
    gi, gj = gi[same], gj[same]
    r = _pair_distance(g_items, g_items, gi, gj, tolerance, combine_accuracy=np.fmax)
    keep = r <= 1.0
    order = np.lexsort((gj[keep], gi[keep], r[keep]))
    group_label = _constrained_union(len(groups), gi[keep][order], gj[keep][order], group_keys)
    if group_label.max() + 1 < len(groups):
        label = group_label[label]
        groups = _summarise(obs, label, items["lat"])

    # 5: one spot, one defect, whatever classes it was seen as
    groups = _join_families(obs, groups)

    defects = groups.sort_values(["survey_id", "first_seen", "defect_key"], kind="stable").reset_index(drop=True)
    geometry = gpd.points_from_xy(defects["x"], defects["y"], crs=crs)
    return gpd.GeoDataFrame(defects[DEFECT_COLUMNS], geometry=geometry, crs=crs)


def _near_pairs(a: dict, b: dict, tol: MergeTolerance, combine_accuracy) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (ia, ib) whose planar distance could be within tolerance (STRtree, no O(n^2))."""
    if not len(a["x"]) or not len(b["x"]):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    radius = _search_radius(a, b, tol, combine_accuracy)
    tree = shapely.STRtree(shapely.points(b["x"], b["y"]))
    ia, ib = tree.query(shapely.points(a["x"], a["y"]), predicate="dwithin", distance=radius)
    return ia.astype(np.int64), ib.astype(np.int64)


def coverage_mask(table: pd.DataFrame, covered) -> np.ndarray:
    """Which rows (x, y, segment_id, chainage_m) lie in the stretch a survey covered.

    `covered` is one of: a shapely geometry (or GeoSeries, unioned) such as the driven track buffered
    by the width the camera sees, in the table's CRS; a DataFrame of chainage intervals with columns
    segment_id, start_m, end_m (what the camera saw of each segment); an iterable of segment ids
    driven end to end; or None (nothing covered).
    """
    n = len(table)
    if covered is None or n == 0:
        return np.zeros(n, dtype=bool)
    geometry = covered_geometry(covered)
    if geometry is not None:
        return shapely.intersects_xy(geometry, table["x"].to_numpy(np.float64), table["y"].to_numpy(np.float64))
    if isinstance(covered, pd.DataFrame):
        missing = {"segment_id", "start_m", "end_m"} - set(covered.columns)
        if missing:
            raise ValueError(f"covered intervals lack the columns {sorted(missing)}")
        rows = pd.DataFrame({"row": np.arange(n), "segment_id": table["segment_id"].astype("string").fillna(""),
                             "ch": pd.to_numeric(table["chainage_m"], errors="coerce").to_numpy()})
        iv = covered.assign(segment_id=covered["segment_id"].astype("string"))
        m = rows.merge(iv, on="segment_id")
        lo = np.minimum(m["start_m"], m["end_m"])
        hi = np.maximum(m["start_m"], m["end_m"])
        inside = m.loc[(m["ch"] >= lo) & (m["ch"] <= hi), "row"].to_numpy()
        mask = np.zeros(n, dtype=bool)
        mask[inside] = True
        return mask
    ids = {str(s) for s in covered}
    return table["segment_id"].astype("string").isin(ids).fillna(False).to_numpy(dtype=bool)


def merge_into_existing(existing: pd.DataFrame, new: pd.DataFrame, covered=None, *,
                        tolerance: MergeTolerance = MergeTolerance()) -> MergeResult:
    """Match a new survey's defects to the known ones; never duplicate, never delete.

    `existing` needs defect_id, code, x, y (same metric CRS as `new`) and, where known, the snap
    columns, width_m, length_m, n_obs, n_surveys, first_seen, last_seen, max_confidence,
    mean_confidence, gps_accuracy_m. `new` is `merge_observations` output. Matching uses the rule of
    the module doc with the two GPS accuracies combined as hypot (two surveys, independent errors),
    one-to-one, nearest first: two new defects the new survey kept apart stay apart.

    Returns MergeResult:
      updates: the matched existing rows, updated: last_seen max, first_seen min, n_obs summed,
        n_surveys + 1, confidences combined, size (width, length, area) from the new survey (the
        latest state: potholes grow), position averaged over surveys (each survey's GPS error is
        independent), class by summed confidence; plus defect_key (the new one) and obs_ids (the new
        sightings). Severity and priority are stale: score them again.
      inserts: the unmatched new defects.
      not_reobserved: defect_id of existing defects that `covered` (see `coverage_mask`) says were
        in view but were not matched: candidates for "repaired". Nothing outside it is touched.
    """
    if existing is None or not len(existing):
        empty = new.iloc[0:0].assign(defect_id=pd.Series(dtype=object))
        return MergeResult(empty, new.copy(), pd.Index([], name="defect_id"))
    existing = _with_snap_columns(existing).reset_index(drop=True)
    new = _with_snap_columns(new).reset_index(drop=True)
    a, b = _items(existing, range_col=None), _items(new, range_col=None)
    ia, ib = _near_pairs(a, b, tolerance, np.hypot)
    fam_a, fam_b = _families(existing), _families(new)
    shared = np.array([bool(fam_a[i] & fam_b[j]) for i, j in zip(ia.tolist(), ib.tolist())], dtype=bool)
    r = _pair_distance(a, b, ia, ib, tolerance, combine_accuracy=np.hypot)
    r_spot = _pair_distance(a, b, ia, ib, COLOCATED, combine_accuracy=np.hypot)
    # a shared family within tolerance, or any two families at one spot (module doc); one distance to rank by
    r = np.where(shared & (r <= 1.0), r, np.where(r_spot <= 1.0, r_spot, np.inf))
    keep = r <= 1.0
    ia, ib, r = ia[keep], ib[keep], r[keep]
    order = np.lexsort((ib, ia, r))
    used_a, used_b, match_a, match_b = set(), set(), [], []
    for i, j in zip(ia[order].tolist(), ib[order].tolist()):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            match_a.append(i)
            match_b.append(j)
    match_a, match_b = np.array(match_a, dtype=np.int64), np.array(match_b, dtype=np.int64)

    updates = _updated(existing.iloc[match_a].reset_index(drop=True), new.iloc[match_b].reset_index(drop=True),
                       a, b, match_a, match_b)
    inserts = new.drop(index=match_b).reset_index(drop=True)
    unmatched = np.ones(len(existing), dtype=bool)
    unmatched[match_a] = False
    gone = unmatched & coverage_mask(existing, covered)
    return MergeResult(updates, inserts, pd.Index(existing.loc[gone, "defect_id"].to_numpy(), name="defect_id"))


def _families(table: pd.DataFrame) -> list[set]:
    """Per defect, the families of its class and of its `other_classes`."""
    others = table["other_classes"] if "other_classes" in table else pd.Series(None, index=table.index)
    return [{FAMILY.get(c, c) for c in [code, *_split_classes(more)]}
            for code, more in zip(table["code"].astype(str), others)]


def _col(t: pd.DataFrame, name: str, default) -> pd.Series:
    return t[name] if name in t.columns else pd.Series(default, index=t.index)


def _updated(old: pd.DataFrame, new: pd.DataFrame, a: dict, b: dict, ia: np.ndarray, ib: np.ndarray) -> pd.DataFrame:
    """Existing rows `old` updated by their matches `new` (row by row); see merge_into_existing."""
    out = old.copy()
    if not len(out):
        return out.assign(defect_key=pd.Series(dtype=object), obs_ids=pd.Series(dtype=object))
    n_old = _col(old, "n_obs", 1).fillna(1).astype(np.int64)
    s_old = _col(old, "n_surveys", 1).fillna(1).astype(np.int64)
    c_old = _col(old, "mean_confidence", np.nan).astype(np.float64)
    c_old = c_old.fillna(_col(old, "max_confidence", 0.5).astype(np.float64)).fillna(0.5)
    n_new, c_new = new["n_obs"].astype(np.int64), new["mean_confidence"].astype(np.float64)

    rank_old, rank_new = _family_rank(family_of(old["code"])), _family_rank(family_of(new["code"]))
    take_new_code = np.where(rank_old == rank_new, n_new * c_new > n_old * c_old, rank_new < rank_old)
    out["code"] = np.where(take_new_code, new["code"], old["code"])
    old_more = _col(old, "other_classes", None)
    new_more = _col(new, "other_classes", None)
    out["other_classes"] = [other_classes([o, n, *_split_classes(om), *_split_classes(nm)], c)
                            for o, n, om, nm, c in zip(old["code"], new["code"], old_more, new_more, out["code"])]
    same_family = rank_old == rank_new
    if "name" in out or "name" in new:
        out["name"] = pd.Series(out["code"]).map(human_name)
    if "family" in out:
        out["family"] = family_of(pd.Series(out["code"]))
    # position: mean over surveys, the new survey weighing one
    w_old = s_old.to_numpy(np.float64)
    for c in ("x", "y"):
        out[c] = (old[c].to_numpy(np.float64) * w_old + new[c].to_numpy(np.float64)) / (w_old + 1)
    same = (a["seg"][ia] == b["seg"][ib]) & (a["seg"][ia] != "")
    for c in ("chainage_m", "offset_m"):
        mixed = (old[c].to_numpy(np.float64) * w_old + new[c].to_numpy(np.float64)) / (w_old + 1)
        out[c] = np.where(same, mixed, old[c].to_numpy(np.float64))
    for c in ("width_m", "length_m", "area_m2"):  # the primary class's size: a crack's size is no pothole's
        if c in new:
            keep_old = ~same_family & ~take_new_code & (c in old)
            out[c] = np.where(keep_old, _col(old, c, np.nan).to_numpy(np.float64), new[c].to_numpy(np.float64))
    out["n_obs"] = n_old + n_new
    out["n_surveys"] = s_old + 1
    out["mean_confidence"] = (n_old * c_old + n_new * c_new) / (n_old + n_new)
    out["max_confidence"] = np.fmax(_col(old, "max_confidence", np.nan).astype(np.float64), new["max_confidence"])
    first_old = _col(old, "first_seen", pd.NaT)
    last_old = _col(old, "last_seen", pd.NaT)
    out["first_seen"] = pd.concat([pd.to_datetime(first_old, utc=True), pd.to_datetime(new["first_seen"], utc=True)],
                                  axis=1).min(axis=1)
    out["last_seen"] = pd.concat([pd.to_datetime(last_old, utc=True), pd.to_datetime(new["last_seen"], utc=True)],
                                 axis=1).max(axis=1)
    out["defect_key"] = new["defect_key"].to_numpy()
    out["obs_ids"] = new["obs_ids"].to_numpy() if "obs_ids" in new else None
    if isinstance(out, gpd.GeoDataFrame) and out.geometry.name in out:
        out = out.set_geometry(gpd.points_from_xy(out["x"], out["y"], crs=out.crs))
    return out
