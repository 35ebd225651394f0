"""Synthetic training frames: labels that match the truth boxes, in YOLO format, generated on demand."""


import yaml
from PIL import Image

from roadscan.core.classes import CLASS_CODES
from roadscan.detector.dataset import read_yolo
from roadscan.sample.training_frames import ensure_generated_sources, write_seed


def test_frames_and_labels_agree(tmp_path):
    n = write_seed(tmp_path, seed=11, length_m=80.0, every=2)
    images = sorted((tmp_path / "images").glob("*.jpg"))
    assert n == len(images) > 0
    boxes = read_yolo(tmp_path / "labels", tmp_path / "images", dict(enumerate(CLASS_CODES)))
    assert len(boxes) and set(boxes.code) <= {"D00", "D10", "D20", "D40"}
    with Image.open(images[0]) as im:
        assert im.size == (960, 540)
    assert (boxes.x2 - boxes.x1 >= 8 - 1e-6).all() and (boxes.y1 > 540 * 0.3).all()  # on the road, below the horizon
    empty = [p for p in (tmp_path / "labels").glob("*.txt") if not p.read_text().strip()]
    assert 0 < len(empty) < n / 3  # a share of clean road


def test_generated_source_is_made_once(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": {"synthetic": {
        "format": "yolo", "root": "syn",
        "generate": {"train_seeds": "11", "val_seeds": "12", "length_m": 60, "every": 4}}}}))
    made = ensure_generated_sources(sources)
    assert set(made) == {"synthetic"} and made["synthetic"]["train"] > 0
    assert ensure_generated_sources(sources) == {}  # already there
    assert (tmp_path / "syn" / "val" / "labels").is_dir()
