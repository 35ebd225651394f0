"""Severity 1-5 of a defect from its class and size, and how certain we are that it is there.

Rule (weights in scoring.toml, [severity.<code>]): severity = class base + one step per size
threshold reached, capped at 5. Size is the footprint area (width x length) for potholes and
alligator cracks, and the long side of the footprint for linear cracks (a transverse crack runs
across the road, so its extent is the footprint's width). A size we could not measure adds nothing.

Evidence comes before severity (scoring.toml [evidence]): a defect is *confirmed* by more than one
sighting (over all surveys) or by one confident sighting; a single weak sighting is *unconfirmed*
(core.evidence), and its severity is capped at 3 whatever its size, because one weak box is as often
a grass verge or a shadow as a pothole, and a phantom severity-5 pothole at the top of the work list
costs a crew a trip. The reason keeps what the size alone would give, and a later survey that sees
the defect again confirms it and restores that. Beyond this cap, confidence and sightings do not
lower severity: they set `certainty`, 1 - (1 - mean confidence) ** min(sightings, max_sightings),
labelled high/medium/low, which the priority score discounts and the crew sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from roadscan.core.classes import CLASSES, human_name
from roadscan.core.evidence import Evidence
from roadscan.geo.scoring import Scoring, resolve_scoring

_UNITS = {"area": "m²", "length": "m"}


def _num(t: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(t[col], errors="coerce").to_numpy(np.float64) if col in t else np.full(len(t), np.nan)


def defect_size(defects: pd.DataFrame, measure: str) -> np.ndarray:
    """The size a severity rule reads: area (m²), the footprint's long side (m), or NaN for "none"."""
    width, length = _num(defects, "width_m"), _num(defects, "length_m")
    if measure == "area":
        area = _num(defects, "area_m2")
        return np.where(np.isfinite(area), area, width * np.where(np.isfinite(length), length, width))
    if measure == "length":
        return np.fmax(width, length)
    return np.full(len(defects), np.nan)


def certainty(defects: pd.DataFrame, scoring: Scoring) -> np.ndarray:
    """Chance that at least one of up to `max_sightings` sightings is right (module doc)."""
    conf = _num(defects, "mean_confidence")
    conf = np.where(np.isfinite(conf), conf, _num(defects, "max_confidence"))
    n = _num(defects, "n_obs")
    n = np.where(np.isfinite(n), n, 1.0)
    return 1.0 - (1.0 - np.clip(conf, 0, 1)) ** np.minimum(n, scoring.certainty.max_sightings)


def evidence(defects: pd.DataFrame, scoring: Scoring) -> np.ndarray:
    """Per defect CONFIRMED (enough sightings, or one confident one) or UNCONFIRMED (module doc)."""
    n = _num(defects, "n_obs")
    best = _num(defects, "max_confidence")
    best = np.where(np.isfinite(best), best, _num(defects, "mean_confidence"))
    rule = scoring.evidence
    confirmed = (np.where(np.isfinite(n), n, 1.0) >= rule.min_sightings) | (np.nan_to_num(best) >= rule.confident)
    return np.where(confirmed, str(Evidence.CONFIRMED), str(Evidence.UNCONFIRMED)).astype(object)


def _band_text(value: float, bands: list[float], steps: int, unit: str) -> str:
    lo = bands[steps - 1] if steps > 0 else None
    hi = bands[steps] if steps < len(bands) else None
    if lo is None and hi is None:
        return ""
    band = f"< {hi:g} {unit}" if lo is None else f"≥ {lo:g} {unit}" if hi is None else f"{lo:g}–{hi:g} {unit}"
    return f" (band {band})"


def _reason(name: str, measure: str | None, size: float, bands: list[float], base: int, steps: int,
            severity: int, n_obs: float, conf: float, cert: float, label: str) -> str:
    if measure is None:
        head = f"{name}: no severity rule for this class, severity {severity}"
    elif measure == "none":
        head = f"{name}: not graded by size, severity {severity}"
    elif not np.isfinite(size):
        head = f"{name}, size unknown: base {base}, severity {severity}"
    else:
        what = f"{size:.2f} m²" if measure == "area" else f"{size:.1f} m long"
        capped = " (capped at 5)" if base + steps > 5 else ""
        head = (f"{name} {what}{_band_text(size, bands, steps, _UNITS[measure])}: "
                f"base {base} +{steps}, severity {severity}{capped}")
    seen = f"seen {int(n_obs)}×" if np.isfinite(n_obs) else "sightings unknown"
    conf_text = f", mean confidence {conf:.2f}" if np.isfinite(conf) else ""
    return f"{head}; {seen}{conf_text}, certainty {label} ({cert:.2f})" if np.isfinite(cert) else f"{head}; {seen}"


def _weak_text(n_obs: float, best: float, severity: int, by_size: int, sc: Scoring) -> str:
    seen = f"{int(n_obs)} sighting" if np.isfinite(n_obs) else "sightings unknown"
    conf = f", best confidence {best:.2f}" if np.isfinite(best) else ""
    capped = f", severity capped at {severity} (its size alone gives {by_size})" if by_size > severity else ""
    return (f"; unconfirmed: {seen}{conf}, confirmed by {sc.evidence.min_sightings} sightings or one at "
            f"{sc.evidence.confident:g}{capped}")


def assess_severity(defects: pd.DataFrame, scoring: Scoring | str | Path | None = None) -> pd.DataFrame:
    """A copy of `defects` with severity (1-5), severity_reason, evidence, certainty (0-1) and certainty_label.

    Reads code, width_m, length_m (area_m2 if present), n_obs, max_confidence and mean_confidence.
    `scoring`: a Scoring, a user TOML file merged over the defaults, or None for the defaults.
    """
    sc = resolve_scoring(scoring)
    out = defects.copy()
    code = out["code"].astype(str).to_numpy() if len(out) else np.array([], dtype=object)
    base = np.ones(len(out), dtype=np.int64)
    steps = np.zeros(len(out), dtype=np.int64)
    size = np.full(len(out), np.nan)
    for c, rule in sc.severity.items():
        mask = code == c
        if not mask.any():
            continue
        base[mask] = rule.base
        size[mask] = defect_size(out.loc[mask], rule.measure)
        measured = mask & np.isfinite(size)
        steps[measured] = np.searchsorted(np.asarray(rule.bands, dtype=np.float64), size[measured], side="right")
    by_size = np.clip(base + steps, 1, 5)
    proof = evidence(out, sc)
    weak = proof == str(Evidence.UNCONFIRMED)
    severity = np.where(weak, np.minimum(by_size, sc.evidence.max_unconfirmed_severity), by_size)

    cert = certainty(out, sc)
    label = np.where(cert >= sc.certainty.high, "high", np.where(cert >= sc.certainty.medium, "medium", "low"))
    label = np.where(np.isfinite(cert), label, "unknown")
    n_obs = _num(out, "n_obs")
    conf = _num(out, "mean_confidence")
    best = _num(out, "max_confidence")
    out["severity"] = severity.astype(np.int64)
    out["severity_reason"] = [
        _reason(human_name(c) if c in CLASSES else f"unknown class '{c}'",
                sc.severity[c].measure if c in sc.severity else None, s,
                sc.severity[c].bands if c in sc.severity else [], b, k, v, n, m, ce, lab)
        + (_weak_text(n, top, v, full, sc) if w else "")
        for c, s, b, k, v, n, m, ce, lab, w, top, full
        in zip(code, size, base, steps, severity, n_obs, conf, cert, label, weak, best, by_size)]
    out["evidence"] = proof
    out["certainty"] = cert
    out["certainty_label"] = label
    return out
