"""The Detections value type and the class names every output carries."""

from __future__ import annotations

import numpy as np
import pytest

from roadscan.core.classes import CLASS_CODES, CLASSES, code_for, human_name
from roadscan.core.tables import DETECTION_COLUMNS
from roadscan.detector.detections import Detections


def make(n: int, code: str = "D40", offset: float = 0.0) -> Detections:
    xyxy = np.arange(n * 4, dtype=np.float64).reshape(n, 4) + offset
    return Detections(xyxy, np.linspace(0.9, 0.5, n), [code] * n)


@pytest.mark.parametrize("name, code", [
    ("D40", "D40"), ("d40", "D40"), ("pothole", "D40"), ("Pothole", "D40"), ("Potholes", "D40"),
    ("longitudinal crack", "D00"), ("Longitudinal_Crack", "D00"), ("transverse-crack", "D10"),
    ("alligator crack", "D20"), ("Repair", "Repair"), ("repair", "Repair"),
])
def test_code_for_folds_spellings_onto_codes(name, code):
    assert code_for(name) == code


def test_unknown_names_and_codes_pass_through():
    assert code_for("D43") == "D43"
    assert code_for("manhole") == "manhole"
    assert human_name("D43") == "D43"


def test_every_code_has_a_human_name():
    assert list(CLASSES) == CLASS_CODES
    assert human_name("D00") == "longitudinal crack"
    assert human_name("D40") == "pothole"
    assert all(code_for(human_name(c)) == c for c in CLASS_CODES)


def test_fields_are_coerced_to_the_documented_dtypes():
    d = make(3)
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (3, 4)
    assert d.confidence.dtype == np.float32 and d.confidence.shape == (3,)
    assert d.code.dtype == object and list(d.code) == ["D40"] * 3
    # a long code must not be truncated by a fixed-width string dtype
    assert Detections([[0, 0, 1, 1]], [0.5], np.array(["Repair"]))[0].code[0] == "Repair"


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        Detections(np.zeros((2, 4)), np.zeros(3), ["D00"] * 2)


def test_empty():
    d = Detections.empty()
    assert len(d) == 0 and d.xyxy.shape == (0, 4)
    frame = d.to_frame()
    assert list(frame.columns) == DETECTION_COLUMNS and len(frame) == 0


def test_indexing_by_mask_indices_slice_and_int():
    d = Detections.concat([make(2, "D00"), make(3, "D40", offset=100)])
    high = d[d.confidence > 0.6]
    assert len(high) == 3 and isinstance(high, Detections)
    picked = d[np.array([4, 0])]
    assert list(picked.code) == ["D40", "D00"]
    np.testing.assert_array_equal(picked.xyxy[1], d.xyxy[0])
    assert len(d[1:3]) == 2
    one = d[2]
    assert len(one) == 1 and one.code[0] == "D40"


def test_to_frame_has_coordinates_and_human_names():
    d = Detections([[1, 2, 3, 4], [5, 6, 7, 8]], [0.9, 0.4], ["D40", "D10"])
    frame = d.to_frame()
    assert list(frame.columns) == ["x1", "y1", "x2", "y2", "confidence", "code", "name"]
    assert frame[["x1", "y1", "x2", "y2"]].to_numpy().tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert list(frame["name"]) == ["pothole", "transverse crack"]
    assert frame["confidence"].to_numpy() == pytest.approx([0.9, 0.4])


def test_concat_keeps_order_and_handles_nothing():
    a, b = make(2, "D00"), make(1, "Repair", offset=50)
    both = Detections.concat([a, Detections.empty(), b])
    assert len(both) == 3 and list(both.code) == ["D00", "D00", "Repair"]
    np.testing.assert_array_equal(both.xyxy[2], b.xyxy[0])
    assert len(Detections.concat([])) == 0
