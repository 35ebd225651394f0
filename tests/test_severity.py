"""Severity bands, certainty and their reasons, on hand-built defects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roadscan.geo.scoring import load_scoring
from roadscan.geo.severity import assess_severity


def defect(code, width=None, length=None, n_obs=5, conf=0.7, **extra):
    return dict(code=code, width_m=np.nan if width is None else width, length_m=np.nan if length is None else length,
                n_obs=n_obs, mean_confidence=conf, **extra)


@pytest.mark.parametrize("code, width, length, expected", [
    # potholes by area (m²): < 0.1 -> 3, 0.1-0.5 -> 4, >= 0.5 -> 5
    ("D40", 0.3, 0.3, 3), ("D40", 0.5, 0.2, 4), ("D40", 0.6, 0.5, 4), ("D40", 1.0, 0.5, 5), ("D40", 1.2, 1.0, 5),
    # alligator cracks by area: < 1 -> 2, 1-5 -> 3, 5-20 -> 4, >= 20 -> 5
    ("D20", 0.5, 0.5, 2), ("D20", 2.0, 1.0, 3), ("D20", 2.0, 4.0, 4), ("D20", 4.0, 6.0, 5),
    # linear cracks by the long side of the footprint: < 1 -> 1, 1-3 -> 2, 3-10 -> 3, >= 10 -> 4
    ("D00", 0.2, 0.5, 1), ("D00", 0.3, 2.0, 2), ("D00", 0.3, 6.0, 3), ("D00", 0.3, 15.0, 4),
    ("D10", 3.5, 0.3, 3),  # a transverse crack runs across: its width is its length
    ("Repair", 3.0, 3.0, 1),
])
def test_severity_bands(code, width, length, expected):
    out = assess_severity(pd.DataFrame([defect(code, width, length)]))
    assert out["severity"].tolist() == [expected]


def test_area_falls_back_to_width_squared_when_the_far_edge_is_unknown():
    out = assess_severity(pd.DataFrame([defect("D40", 0.8, None)]))  # 0.64 m² -> 5
    assert out["severity"].iloc[0] == 5


def test_unknown_size_keeps_the_class_base_and_says_so():
    out = assess_severity(pd.DataFrame([defect("D40"), defect("D00")]))
    assert out["severity"].tolist() == [3, 1]
    assert "size unknown" in out["severity_reason"].iloc[0]


def test_reason_names_class_size_band_and_steps():
    reason = assess_severity(pd.DataFrame([defect("D40", 0.6, 0.5)]))["severity_reason"].iloc[0]
    assert reason.startswith("pothole 0.30 m² (band 0.1–0.5 m²): base 3 +1, severity 4")
    assert "seen 5×" in reason


def test_unknown_class_gets_severity_1_with_a_reason():
    out = assess_severity(pd.DataFrame([defect("D43", 1.0, 1.0)]))
    assert out["severity"].iloc[0] == 1
    assert "unknown class 'D43'" in out["severity_reason"].iloc[0]


def test_low_confidence_with_enough_sightings_lowers_certainty_not_severity():
    out = assess_severity(pd.DataFrame([defect("D40", 1.0, 1.0, n_obs=6, conf=0.8),
                                        defect("D40", 1.0, 1.0, n_obs=2, conf=0.2)]))
    assert out["severity"].tolist() == [5, 5]
    assert out["evidence"].tolist() == ["confirmed", "confirmed"]
    assert out["certainty"].iloc[0] == pytest.approx(1 - 0.2 ** 3)  # sightings count up to 3
    assert out["certainty"].iloc[1] == pytest.approx(1 - 0.8 ** 2)
    assert out["certainty_label"].tolist() == ["high", "low"]


def test_a_single_weak_sighting_is_unconfirmed_and_capped_at_severity_3():
    """Issue 17: one box at 0.26-0.28 became 'pothole, severity 5' at the top of the work list."""
    out = assess_severity(pd.DataFrame([defect("D40", 4.0, 4.0, n_obs=1, conf=0.28, max_confidence=0.28),
                                        defect("D40", 1.0, 1.0, n_obs=1, conf=0.7, max_confidence=0.7),
                                        defect("D40", 1.0, 1.0, n_obs=2, conf=0.3, max_confidence=0.3),
                                        defect("D00", 0.3, 2.0, n_obs=1, conf=0.3, max_confidence=0.3)]))
    assert out["evidence"].tolist() == ["unconfirmed", "confirmed", "confirmed", "unconfirmed"]
    assert out["severity"].tolist() == [3, 5, 5, 2]  # a weak small crack keeps its own severity
    reason = out["severity_reason"].iloc[0]
    assert "unconfirmed: 1 sighting, best confidence 0.28" in reason and "capped at 3 (its size alone gives 5)" in reason


def test_evidence_rule_comes_from_the_scoring_file(tmp_path):
    path = tmp_path / "strict.toml"
    path.write_text("[evidence]\nmin_sightings = 3\nconfident = 0.9\nmax_unconfirmed_severity = 2\n")
    out = assess_severity(pd.DataFrame([defect("D40", 1.0, 1.0, n_obs=2, conf=0.8, max_confidence=0.8)]), path)
    assert out["evidence"].tolist() == ["unconfirmed"] and out["severity"].tolist() == [2]


def test_user_bands_override_the_defaults(tmp_path):
    path = tmp_path / "strict.toml"
    path.write_text("[severity.D40]\nbands = [0.05, 0.1]\n")
    out = assess_severity(pd.DataFrame([defect("D40", 0.3, 0.3)]), path)  # 0.09 m²
    assert out["severity"].iloc[0] == 4
    assert load_scoring(path).severity["D40"].base == 3  # the rest of the rule comes from the defaults


def test_input_is_not_modified():
    table = pd.DataFrame([defect("D40", 0.3, 0.3)])
    assess_severity(table)
    assert "severity" not in table
