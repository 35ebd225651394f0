"""Annotation readers, the id-block split, the ultralytics build folder and its statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from _tiny_dataset import make_sources, voc_xml, write_image

from roadscan.core.classes import CLASS_CODES
from roadscan.detector.dataset import (BOX_COLUMNS, build_dataset, dataset_stats, read_voc, read_yolo,
                                       split_by_id_blocks, stats_table)
from roadscan.core.errors import DatasetError

REPO = Path(__file__).resolve().parents[1]


def test_read_voc_gives_pixel_boxes_with_raw_names(tmp_path):
    xml = tmp_path / "img_1.xml"
    xml.write_text(voc_xml(640, 480, [("D00", 10, 20, 110, 60), ("D40", 300.5, 200, 350, 260)]))
    boxes = read_voc(tmp_path)
    assert list(boxes.columns) == BOX_COLUMNS
    assert boxes["image"].tolist() == ["img_1", "img_1"]
    assert boxes["code"].tolist() == ["D00", "D40"]
    np.testing.assert_allclose(boxes.loc[1, ["x1", "y1", "x2", "y2", "width", "height"]].to_numpy(float),
                               [300.5, 200, 350, 260, 640, 480])


@pytest.mark.realdata
def test_read_voc_real_rdd_file(shared_data):
    xml = shared_data / "rdd2022_china_motorbike" / "annotations" / "China_MotorBike_000005.xml"
    boxes = read_voc([xml])
    assert len(boxes) == 4 and set(boxes["code"]) == {"D10"}
    assert boxes.iloc[0][["x1", "y1", "x2", "y2", "width", "height"]].tolist() == [225, 268, 401, 290, 512, 512]


def test_read_yolo_turns_polygons_into_their_bounding_box(tmp_path):
    write_image(tmp_path / "images" / "p.jpg", 200, 100)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "p.txt").write_text("0 0.5 0.5 0.2 0.4\n\n0 0.1 0.2 0.3 0.2 0.25 0.6 0.12 0.5\n")
    boxes = read_yolo(tmp_path / "labels", tmp_path / "images", {0: "D40"})
    np.testing.assert_allclose(boxes[["x1", "y1", "x2", "y2"]].to_numpy(),
                               [[80, 30, 120, 70], [20, 20, 60, 60]])
    assert set(boxes["code"]) == {"D40"} and set(boxes["width"]) == {200}


@pytest.mark.parametrize(("line", "message"), [
    ("0 0.5 0.5 0.2", "has 4 fields"),
    ("0 0.1 0.2 0.3 0.2 0.25", "has 6 fields"),  # an odd polygon (two points and a half)
    ("3 0.5 0.5 0.2 0.2", "class id 3 is out of range"),
    ("0 0.5 x 0.2 0.2", "non-numeric"),
])
def test_bad_yolo_line_names_file_and_line(tmp_path, line, message):
    write_image(tmp_path / "images" / "p.jpg", 32, 32)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "p.txt").write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(DatasetError, match=message) as err:
        read_yolo(tmp_path / "labels", tmp_path / "images", {0: "D40"})
    assert err.value.path == tmp_path / "labels" / "p.txt" and "line 2" in str(err.value)


@pytest.mark.parametrize("text", ["<annotation><size>", voc_xml(0, 10, []),
                                  "<annotation><size><width>9</width><height>9</height></size>"
                                  "<object><name>D00</name></object></annotation>"])
def test_malformed_voc_names_the_file(tmp_path, text):
    (tmp_path / "bad.xml").write_text(text)
    with pytest.raises(DatasetError) as err:
        read_voc(tmp_path)
    assert err.value.path == tmp_path / "bad.xml"


def test_split_by_id_blocks_holds_out_contiguous_blocks_with_a_gap():
    ids = np.arange(100)
    split = split_by_id_blocks(ids, [[20, 29], [70, 79]], gap=2)
    assert ids[split == "val"].tolist() == [*range(20, 30), *range(70, 80)]
    assert ids[split == "drop"].tolist() == [18, 19, 30, 31, 68, 69, 80, 81]
    train, val = ids[split == "train"], ids[split == "val"]
    assert np.abs(train[:, None] - val[None, :]).min() == 3  # no train frame next to a val frame


def test_build_writes_a_dataset_ultralytics_accepts(tmp_path):
    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    from ultralytics.data.utils import check_det_dataset

    result = build_dataset(make_sources(tmp_path), tmp_path / "build")
    data = check_det_dataset(str(result.data_yaml))
    assert data["nc"] == 5 and list(data["names"].values()) == CLASS_CODES
    assert [Path(v).name for v in data["val"]] == ["val_seq", "val_pot"]
    for source, path in result.val_yamls.items():
        assert Path(check_det_dataset(str(path))["val"]).name == f"val_{source}"
    # frames 3 and 7 lie next to the validation block: in neither split
    assert result.images == 10 + 3 and result.dropped_images == 2
    out = result.out_dir
    assert sorted(p.name for p in (out / "images" / "val_seq").iterdir()) == [
        "seq_frame_004.jpg", "seq_frame_005.jpg", "seq_frame_006.jpg"]
    assert (out / "images" / "train" / "seq_frame_000.jpg").resolve() == \
        (tmp_path / "data" / "seq" / "images" / "frame_000.jpg").resolve()
    assert (out / "labels" / "train" / "seq_frame_009.txt").read_text() == ""  # background image
    assert (out / "labels" / "train" / "seq_frame_010.txt").read_text().count("\n") == 1  # D44 dropped
    polygon = (out / "labels" / "train" / "pot_b.txt").read_text().split()
    assert polygon[0] == "3" and np.allclose([float(v) for v in polygon[1:]], [0.5, 0.375, 0.5, 0.25])


def test_dataset_stats_counts_images_and_instances(tmp_path):
    result = build_dataset(make_sources(tmp_path), tmp_path / "build")
    stats = dataset_stats(result.out_dir).set_index(["split", "source", "code"])
    # train frames 0-2 and 8-11; frame 9 is background, frame 10's D44 box is dropped
    assert stats.loc[("train", "seq", "D00")].tolist() == [6, 6]
    assert stats.loc[("train", "seq", "all")].tolist() == [7, 6]
    assert stats.loc[("val", "seq", "D00")].tolist() == [3, 3]
    assert stats.loc[("train", "pot", "D40")].tolist() == [2, 2]
    assert stats.loc[("val", "pot", "Repair")].tolist() == [0, 0]
    assert stats_table(dataset_stats(result.out_dir)).row_count == 4


def test_imgsz_cap_writes_small_copies(tmp_path):
    result = build_dataset(make_sources(tmp_path), tmp_path / "pack", imgsz_cap=48)
    image = result.out_dir / "images" / "train" / "pot_a.jpg"
    assert not image.is_symlink()
    from PIL import Image

    assert Image.open(image).size == (48, 24)


def test_rebuild_replaces_a_previous_build_but_not_a_foreign_folder(tmp_path):
    sources = make_sources(tmp_path)
    build_dataset(sources, tmp_path / "build")
    (tmp_path / "build" / "images" / "train" / "stale.jpg").touch()
    build_dataset(sources, tmp_path / "build")
    assert not (tmp_path / "build" / "images" / "train" / "stale.jpg").exists()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").touch()
    with pytest.raises(DatasetError, match="not a roadscan dataset build"):
        build_dataset(sources, tmp_path / "foreign")


def test_repeat_oversamples_a_sources_training_images_only(tmp_path):
    sources = make_sources(tmp_path)
    sources.write_text(sources.read_text().replace("classes: {0: D40}", "classes: {0: D40}\n    repeat: 3"))
    result = build_dataset(sources, tmp_path / "build")
    train = sorted(p.name for p in (result.out_dir / "images" / "train").iterdir() if p.name.startswith("pot_"))
    assert train == ["pot_a.jpg", "pot_a_r1.jpg", "pot_a_r2.jpg", "pot_b.jpg", "pot_b_r1.jpg", "pot_b_r2.jpg"]
    labels = result.out_dir / "labels" / "train"
    assert (labels / "pot_a_r2.txt").read_text() == (labels / "pot_a.txt").read_text() != ""
    assert [p.name for p in (result.out_dir / "images" / "val_pot").iterdir()] == ["pot_c.jpg"]
    stats = dataset_stats(result.out_dir).set_index(["split", "source", "code"])
    assert stats.loc[("train", "pot", "D40")].tolist() == [6, 6]
    sources.write_text(sources.read_text().replace("repeat: 3", "repeat: 0"))
    with pytest.raises(DatasetError, match="repeat"):
        build_dataset(sources, tmp_path / "build")


def test_unmapped_class_is_a_dataset_error(tmp_path):
    sources = make_sources(tmp_path)
    sources.write_text(sources.read_text().replace(", D44: null", ""))
    with pytest.raises(DatasetError, match=r"\['D44'\]") as err:
        build_dataset(sources, tmp_path / "build")
    assert err.value.path == sources


@pytest.mark.realdata
def test_real_build_splits_rdd_by_contiguous_blocks(shared_data, tmp_path):
    definition = yaml.safe_load((REPO / "datasets" / "sources.yaml").read_text())
    spec = definition["sources"]["rdd"]["split"]
    # The real sources only: the synthetic one is generated, and tested with its generator.
    definition["sources"] = {k: definition["sources"][k] for k in ("rdd", "kolkata")}
    definition["sources"]["rdd"].pop("repeat", None)  # oversampling has its own test
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump(definition))
    result = build_dataset(sources, tmp_path / "build", data_root=shared_data)
    manifest = pd.read_csv(result.out_dir / "manifest.csv")
    rdd = manifest[manifest["source"] == "rdd"]
    ids = rdd["image"].str.extract(r"(\d+)\.jpg$", expand=False).astype(int)
    val, train = np.sort(ids[rdd["split"] == "val"]), np.sort(ids[rdd["split"] == "train"])
    blocks = np.split(val, np.flatnonzero(np.diff(val) > 1) + 1)
    assert [[b[0], b[-1]] for b in blocks] == spec["val_blocks"]  # contiguous, as defined
    assert np.abs(train[:, None] - val[None, :]).min() > spec["gap"]
    assert 0.13 < len(val) / 1580 < 0.17
    stats = result.stats.set_index(["split", "source", "code"])
    assert stats.loc[("val", "kolkata", "all"), "images"] == 74
    assert stats.loc[("train", "kolkata", "all"), "images"] == 1003
    assert stats.xs("D00", level="code")["instances"].sum() <= 2142  # the gap frames drop a few


def test_group_split_holds_out_whole_roads():
    from roadscan.detector.dataset import split_by_groups

    stems = pd.Series(["1044259_DF_060_x", "1051464_DF_020_y", "1081458_DF_080_z", "1089713_DF_070_w"])
    roads = stems.str.extract(r"_(DF_\d+)_", expand=False)
    assert list(split_by_groups(roads, ["DF_070", "DF_080"])) == ["train", "train", "val", "val"]
