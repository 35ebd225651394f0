"""Priority score of a defect for the road crew's work list, with the reason spelled out.

    priority = P(severity) x (1 + road class + speed + sensitive places - certainty penalty)

P(severity) are points per severity ([priority.severity_points]); the uplifts are fractions of it:
road class ([priority.road_class]; off the network or unclassified counts as "unknown", even where
snap names the nearest road), speed limit
(per_10_kmh for every 10 km/h above reference_kmh, at most `max`; unknown speed adds nothing), one
weight per kind of sensitive place within its radius ([priority.places]; a kind counts once,
however many of it are near), and the penalty certainty_weight x (1 - certainty) for defects that
were seen rarely or with low confidence. Severity scales everything, so a small crack on an
arterial road does not outrank a deep pothole on a local one. Weak evidence needs no term of its
own: a single weak sighting is unconfirmed and its severity capped at 3 (geo/severity.py), which
caps its points, and work lists leave unconfirmed defects out unless asked (api/worklists.py).

Every defect carries `priority_breakdown`, a dict of term -> points that adds up to `priority`, and
`priority_reason`, the same in words.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from roadscan.geo.scoring import ROAD_CLASSES, Scoring, resolve_scoring
from roadscan.geo.severity import assess_severity

SPEED_COLUMNS = ("maxspeed_kmh", "speed_kmh")


def _lookup(defects: pd.DataFrame, segments: pd.DataFrame | None, column: str) -> pd.Series:
    """`column` per defect from its segment where the segments table has it, else from the defect."""
    own = defects[column] if column in defects else pd.Series(None, index=defects.index, dtype=object)
    if segments is None or column not in segments or "segment_id" not in defects:
        return own
    unique = segments.drop_duplicates("segment_id")
    by_id = pd.Series(unique[column].to_numpy(), index=unique["segment_id"].astype(str).to_numpy())
    looked = defects["segment_id"].astype("string").map(by_id)
    return looked.where(looked.notna(), own)


def _speed_column(defects: pd.DataFrame, segments: pd.DataFrame | None) -> str:
    """The speed limit column: maxspeed_kmh, or speed_kmh as geo.roads names it."""
    for name in SPEED_COLUMNS:
        if name in defects or (segments is not None and name in segments):
            return name
    return SPEED_COLUMNS[0]


def _points(defects: pd.DataFrame) -> np.ndarray:
    if isinstance(defects, gpd.GeoDataFrame) and defects.geometry.name in defects:
        return defects.geometry.to_numpy()
    return shapely.points(defects["x"].to_numpy(np.float64), defects["y"].to_numpy(np.float64))


def nearby_places(defects: pd.DataFrame, places: gpd.GeoDataFrame | None, scoring: Scoring) -> pd.DataFrame:
    """Per defect (row position `row`) and kind of place within its radius: the nearest distance_m.

    `places` are points with a `kind` column, in the defects' CRS (reprojected when both declare one).
    """
    empty = pd.DataFrame({"row": pd.Series(dtype=np.int64), "kind": pd.Series(dtype=object),
                          "distance_m": pd.Series(dtype=np.float64)})
    if places is None or not len(places) or not len(defects):
        return empty
    if "kind" not in places:
        raise ValueError("the sensitive places layer needs a `kind` column")
    crs = getattr(defects, "crs", None)
    if crs is not None and places.crs is not None and places.crs != crs:
        places = places.to_crs(crs)
    cfg = scoring.priority.places
    kinds = places["kind"].astype(str).to_numpy()
    radius = np.array([cfg.radius(k) for k in kinds])
    geoms = places.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    pts = _points(defects)
    row, hit = tree.query(pts, predicate="dwithin", distance=float(radius.max()))
    dist = shapely.distance(pts[row], geoms[hit])
    keep = dist <= radius[hit]
    if not keep.any():
        return empty
    found = pd.DataFrame({"row": row[keep], "kind": kinds[hit[keep]], "distance_m": dist[keep]})
    return found.groupby(["row", "kind"], as_index=False)["distance_m"].min()


def score_priority(defects: pd.DataFrame, *, segments: pd.DataFrame | None = None,
                   places: gpd.GeoDataFrame | None = None,
                   scoring: Scoring | str | Path | None = None) -> pd.DataFrame:
    """A copy of `defects` with priority, priority_breakdown (term -> points) and priority_reason.

    `defects` carry severity and certainty (from `assess_severity`; computed here when absent),
    road_class, segment_id, on_network and x, y (or point geometry). `segments` (segment_id,
    road_class, maxspeed_kmh or speed_kmh) fill road class and speed limit by segment_id; `places`
    is an optional point layer of sensitive places with a `kind` column. Also sets road_class and
    maxspeed_kmh to the values used.
    """
    sc = resolve_scoring(scoring)
    cfg = sc.priority
    out = defects.copy()
    if "severity" not in out or "certainty" not in out:
        scored = assess_severity(out, sc)
        for c in ("severity", "certainty", "certainty_label", "severity_reason"):
            if c not in out:
                out[c] = scored[c]

    severity = pd.to_numeric(out["severity"], errors="coerce").fillna(1).clip(1, 5).astype(int).to_numpy()
    base = np.array([cfg.severity_points[s] for s in severity], dtype=np.float64)

    # off the network snap still names the nearest road: its class and speed limit do not apply
    on = out["on_network"].astype("boolean").fillna(True).to_numpy(dtype=bool) if "on_network" in out \
        else np.ones(len(out), dtype=bool)
    road_class = _lookup(out, segments, "road_class").astype("string").str.lower().where(on, pd.NA)
    known = road_class.isin(ROAD_CLASSES).fillna(False).to_numpy(dtype=bool)
    used_class = np.where(known, road_class.fillna("unknown").to_numpy(dtype=object), "unknown")
    class_w = np.array([cfg.road_class[c] for c in used_class])

    speed = pd.to_numeric(_lookup(out, segments, _speed_column(out, segments)), errors="coerce").to_numpy(np.float64)
    speed = np.where(on, speed, np.nan)
    speed_w = np.minimum(cfg.speed.max, cfg.speed.per_10_kmh * np.maximum(0.0, speed - cfg.speed.reference_kmh) / 10)
    speed_w = np.where(np.isfinite(speed_w), speed_w, 0.0)

    cert = pd.to_numeric(out["certainty"], errors="coerce").to_numpy(np.float64)
    cert_w = -cfg.certainty_weight * (1.0 - np.where(np.isfinite(cert), cert, 1.0))

    near = nearby_places(out, places, sc)
    per_row: dict[int, list[tuple[str, float]]] = {}
    for r, kind, d in near.itertuples(index=False):
        per_row.setdefault(r, []).append((kind, d))

    def pts(x: float) -> float:
        return float(round(x, 2)) + 0.0  # plain float for JSON, and no -0.0

    breakdowns, reasons, totals = [], [], []
    raw_class = road_class.to_numpy(dtype=object)
    for i in range(len(out)):
        b = base[i]
        terms = {"severity": pts(b), "road_class": pts(b * class_w[i])}
        words = [f"severity {severity[i]}: {b:g}",
                 f"{used_class[i]} road +{terms['road_class']:g}" if known[i] or pd.isna(raw_class[i])
                 else f"road class '{raw_class[i]}' counted as unknown +{terms['road_class']:g}"]
        terms["speed_limit"] = pts(b * speed_w[i])
        words.append(f"{speed[i]:g} km/h +{terms['speed_limit']:g}" if np.isfinite(speed[i])
                     else "speed limit unknown +0")
        for kind, d in per_row.get(i, []):
            terms[f"place:{kind}"] = pts(b * cfg.places.weight(kind))
            words.append(f"{kind.replace('_', ' ')} {d:.0f} m away +{terms[f'place:{kind}']:g}")
        terms["certainty"] = pts(b * cert_w[i])
        if terms["certainty"]:
            words.append(f"certainty {cert[i]:.2f} {terms['certainty']:g}")
        total = pts(sum(terms.values()))
        breakdowns.append(terms)
        totals.append(total)
        reasons.append("; ".join(words) + f" = {total:g}")

    out["road_class"] = used_class
    out["maxspeed_kmh"] = speed
    out["priority"] = np.array(totals, dtype=np.float64)
    out["priority_breakdown"] = breakdowns
    out["priority_reason"] = reasons
    return out
