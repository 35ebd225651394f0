"""Detection metrics against hand-computed cases, ground-truth readers, and the evaluation report."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from _tiny_dataset import make_sources, voc_xml, write_image

from roadscan.detector.detections import Detections
from roadscan.detector.evaluation import evaluate, load_eval_set, parse_classes
from roadscan.detector.metrics import IOU_THRESHOLDS, average_precision, best_f1, box_iou, match, score
from roadscan.core.errors import ConfigError, DatasetError

HAS_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None


def dets(boxes, codes, conf=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(boxes, np.ones(len(boxes)) if conf is None else conf, codes)


GT = [dets([[0, 0, 10, 10]], ["D00"]), dets([[20, 20, 40, 30], [50, 50, 60, 60]], ["D40", "D00"])]


# ----------------------------------------------------------------------------------------- IoU


def test_box_iou_hand_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 2, 2]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1, 50 / 150, 0], [4 / 100, 0, 0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)
    assert box_iou(np.array([[1, 1, 1, 1]]), np.array([[1, 1, 1, 1]]))[0, 0] == 0  # no area: no NaN


# ------------------------------------------------------------------------------------ matching


def test_higher_confidence_takes_the_box_even_with_lower_iou():
    truth = dets([[0, 0, 10, 10]], ["D00"])
    pred = dets([[0, 0, 10, 6.2], [0, 0, 10, 10]], ["D00", "D00"], conf=[0.9, 0.8])  # IoU 0.62 and 1.0
    tp = match(pred, truth)
    assert tp[0].tolist() == [True] * 3 + [False] * 7  # 0.62 passes 0.50, 0.55, 0.60
    assert tp[1].tolist() == [False] * 3 + [True] * 7  # the box is free again above 0.60


def test_class_must_match_and_duplicates_are_false_positives():
    truth = dets([[0, 0, 10, 10], [20, 0, 30, 10]], ["D00", "D10"])
    pred = dets([[0, 0, 10, 10], [0, 0, 10, 10], [20, 0, 30, 10]], ["D00", "D00", "D00"], conf=[0.9, 0.8, 0.7])
    assert match(pred, truth)[:, 0].tolist() == [True, False, False]


# -------------------------------------------------------------------------------------- metrics


def test_perfect_predictions():
    m = score([dets(t.xyxy, t.code, conf=np.full(len(t), 0.9)) for t in GT], GT)
    assert m.map50 == 1 and m.map50_95 == 1
    assert m.f1.f1 == 1 and m.f1.threshold == pytest.approx(0.9) and (m.f1.fp, m.f1.fn) == (0, 0)
    assert m.classes_in_mean == ["D00", "D40"]
    assert [(c.code, c.images, c.instances, c.ap50) for c in m.classes] == [("D00", 2, 2, 1.0), ("D40", 1, 1, 1.0)]


def test_one_false_positive_ranked_first():
    # D00: an FP at 0.95, then two TPs at 0.9 and 0.8: precision 0, 1/2, 2/3 at recall 0, 1/2, 1;
    # the envelope is 2/3 at every recall, so AP = 2/3. D40: one TP, AP 1.
    preds = [dets([[0, 0, 10, 10], [70, 70, 80, 80]], ["D00", "D00"], conf=[0.9, 0.95]),
             dets([[50, 50, 60, 60], [20, 20, 40, 30]], ["D00", "D40"], conf=[0.8, 0.85])]
    m = score(preds, GT)
    d00 = next(c for c in m.classes if c.code == "D00")
    assert d00.ap50 == pytest.approx(2 / 3)
    # pooled over classes: 0.95 FP, 0.9 TP, 0.85 TP (D40), 0.8 TP -> F1 per cut 0, 2/5, 4/6, 6/7
    assert m.f1.f1 == pytest.approx(6 / 7) and m.f1.threshold == pytest.approx(0.8)
    assert (m.f1.tp, m.f1.fp, m.f1.fn) == (3, 1, 0)
    assert m.map50 == pytest.approx((2 / 3 + 1) / 2)


def test_false_positive_ranked_last_costs_nothing():
    preds = [dets([[0, 0, 10, 10], [70, 70, 80, 80]], ["D00", "D00"], conf=[0.9, 0.1]),
             dets([[50, 50, 60, 60], [20, 20, 40, 30]], ["D00", "D40"], conf=[0.8, 0.85])]
    m = score(preds, GT)
    assert m.map50 == 1 and m.f1.f1 == 1 and m.f1.threshold == pytest.approx(0.8)


def test_class_mismatch_scores_zero_and_absent_classes_stay_out_of_the_mean():
    truth = [dets([[0, 0, 10, 10]], ["D00"])]
    m = score([dets([[0, 0, 10, 10]], ["D10"], conf=[0.9])], truth)
    assert m.map50 == 0 and m.classes_in_mean == ["D00"]
    d10 = next(c for c in m.classes if c.code == "D10")
    assert d10.ap50 is None and d10.predictions == 1 and d10.instances == 0
    assert m.f1.f1 == 0 and m.f1.threshold is None and (m.f1.fp, m.f1.fn) == (1, 1)


def test_empty_predictions():
    m = score([Detections.empty() for _ in GT], GT)
    assert m.map50 == 0 and m.map50_95 == 0 and m.f1.f1 == 0 and m.f1.threshold is None
    assert m.f1.fn == 3 and json.dumps(m.to_dict())


def test_iou_between_thresholds_gives_partial_ap50_95():
    truth = [dets([[0, 0, 10, 10]], ["D40"])]
    m = score([dets([[0, 0, 10, 6.2]], ["D40"], conf=[0.5])], truth)  # IoU 0.62: TP at 3 of 10 thresholds
    assert m.map50 == 1 and m.map50_95 == pytest.approx(0.3)


def test_ap_is_101_point_interpolated():
    # 1 TP of 2 boxes, ranked first: recall 0.5 at precision 1 -> 51 of 101 recall points
    ap, recall, precision = average_precision(np.array([[True], [False]]), np.array([0.9, 0.8]), 2)
    assert ap[0] == pytest.approx(51 / 101)
    assert recall.tolist() == [0.5, 0.5] and precision.tolist() == [1.0, 0.5]


def test_f1_threshold_never_splits_equal_confidences():
    f1 = best_f1(np.array([True, False]), np.array([0.5, 0.5]), 1)  # both or neither
    assert f1.f1 == pytest.approx(2 / 3) and f1.threshold == 0.5


@pytest.mark.skipif(not HAS_ULTRALYTICS, reason="ultralytics is not installed")
def test_ap_agrees_with_ultralytics_on_the_same_matches():
    """Same TP matrix through ultralytics' ap_per_class: the two 101-point integrations agree closely."""
    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    from ultralytics.utils.metrics import ap_per_class

    rng = np.random.default_rng(0)
    truth, preds = [], []
    for _ in range(30):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 300, (n, 2))
        boxes = np.c_[xy, xy + rng.uniform(20, 80, (n, 2))]
        codes = rng.choice(["D00", "D10", "D40"], n)
        truth.append(dets(boxes, codes))
        keep = rng.random(n) < 0.8
        noisy = boxes[keep] + rng.normal(0, 6, (keep.sum(), 4))
        fp = rng.uniform(0, 300, (2, 2))
        preds.append(dets(np.r_[noisy, np.c_[fp, fp + 40]], np.r_[codes[keep], rng.choice(["D00", "D40"], 2)],
                          conf=rng.uniform(0.05, 1, keep.sum() + 2)))
    ours = score(preds, truth)
    tp = np.concatenate([match(p, t) for p, t in zip(preds, truth)])
    all_p, all_t = Detections.concat(preds), Detections.concat(truth)
    index = {"D00": 0, "D10": 1, "D40": 3}
    result = ap_per_class(tp, all_p.confidence, np.array([index[c] for c in all_p.code]),
                          np.array([index[c] for c in all_t.code]))
    ap = result[5]  # (classes, 10 thresholds)
    assert ours.map50 == pytest.approx(ap[:, 0].mean(), abs=0.01)
    assert ours.map50_95 == pytest.approx(ap.mean(), abs=0.01)
    assert 0.3 < ours.map50 < 0.95  # a case where the two could disagree


# ------------------------------------------------------------------------------- ground truth


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("eval"), frames=12, size=64)


def test_voc_folder(sources):
    s = load_eval_set(sources.parent / "data" / "seq", classes=parse_classes("D00=D00,D44=none"))
    assert s.name == "seq" and len(s.images) == 12 and s.instances == 11  # frame 9 is background, D44 dropped
    assert set(np.concatenate([t.code for t in s.truth])) == {"D00"}


def test_voc_folder_with_a_class_we_do_not_know(sources):
    with pytest.raises(DatasetError, match=r"class labels \['D44'\] have no roadscan class") as err:
        load_eval_set(sources.parent / "data" / "seq")
    assert err.value.path.name == "xml" and "--classes" in err.value.hint


def test_yolo_folder_uses_classes_option_or_default_order(sources):
    folder = sources.parent / "data" / "pot" / "train"
    pothole = load_eval_set(folder, classes={"0": "D40"})
    assert pothole.instances == 2 and set(np.concatenate([t.code for t in pothole.truth])) == {"D40"}
    assert load_eval_set(folder / "images").truth[0].code.tolist() == ["D00"]  # our order: 0 = D00
    a = pothole.truth[[p.stem for p in pothole.images].index("a")]
    np.testing.assert_allclose(a.xyxy, [[32, 24, 96, 40]])  # 0.5 0.5 0.5 0.25 of a 128x64 image


def test_yolo_folder_known_to_the_dataset_definition_maps_its_classes(sources):
    s = load_eval_set(sources.parent / "data" / "pot" / "val", sources_yaml=sources)
    assert s.classes_from == "sources.yaml (pot)" and s.truth[0].code.tolist() == ["D40"]


def test_source_name_gives_its_validation_split(sources):
    s = load_eval_set("seq", sources_yaml=sources)
    assert sorted(p.stem for p in s.images) == ["frame_004", "frame_005", "frame_006"]


def test_data_yaml_of_a_build(sources, tmp_path):
    from roadscan.detector.dataset import build_dataset

    built = build_dataset(sources, tmp_path / "build")
    s = load_eval_set(built.val_yamls["pot"])
    assert len(s.images) == 1 and s.truth[0].code.tolist() == ["D40"]
    assert len(load_eval_set(built.data_yaml).images) == 4  # every validation folder
    with pytest.raises(DatasetError, match="dataset definition"):
        load_eval_set(sources)


def test_bad_sets_name_the_file(tmp_path, sources):
    with pytest.raises(DatasetError, match="no such file or folder") as err:
        load_eval_set(tmp_path / "missing", sources_yaml=sources)
    assert "seq, pot" in err.value.hint
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "images" / "x.jpg", 32, 32)
    (tmp_path / "labels").mkdir()
    with pytest.raises(DatasetError, match="no label files") as err:
        load_eval_set(tmp_path)
    assert err.value.path == tmp_path / "labels"
    (tmp_path / "labels" / "x.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match="class id 7") as err:
        load_eval_set(tmp_path)
    assert err.value.path == tmp_path / "labels" / "x.txt"
    with pytest.raises(DatasetError, match="no labelled images"):
        load_eval_set(tmp_path / "labels")


def test_label_without_image(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    write_image(tmp_path / "images" / "a.jpg", 32, 32)
    (tmp_path / "annotations" / "b.xml").write_text(voc_xml(32, 32, [("D40", 1, 1, 9, 9)]))
    with pytest.raises(DatasetError, match="no image, e.g. b"):
        load_eval_set(tmp_path)


def test_parse_classes():
    assert parse_classes("0=D40, 1=pothole ,D44=none") == {"0": "D40", "1": "D40", "D44": None}
    assert parse_classes(None) is None
    with pytest.raises(ConfigError, match="not a roadscan class"):
        parse_classes("0=manhole")
    with pytest.raises(ConfigError, match="ID=CODE"):
        parse_classes("D40")


# ---------------------------------------------------------------------------------- end to end


@pytest.mark.skipif(not HAS_ULTRALYTICS, reason="the detector stack is not installed")
def test_evaluate_writes_metrics_plots_and_sheet(sources, tiny_yolo_pt, tmp_path):
    from rich.console import Console

    from roadscan.detector.eval_report import summary_table, write_report

    ev = evaluate(tiny_yolo_pt, "seq", imgsz=64, sources_yaml=sources, batch=2)
    assert len(ev.predictions) == 3 and ev.settings["backend"] == "ultralytics"
    files = write_report(ev, tmp_path / "report", examples=2)
    data = json.loads(files["metrics"].read_text())
    assert data["classes_in_mean"] == ["D00"] and data["instances"] == 3 and 0 <= data["mAP50"] <= 1
    assert "101-point" in data["ap_method"] and data["f1"]["rule"].startswith("RDD")
    for key in ("pr_D00", "examples"):
        assert files[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = Console(record=True, width=140)
    console.print(summary_table(ev))
    assert "D00 longitudinal crack" in console.export_text()


@pytest.mark.skipif(not HAS_ULTRALYTICS, reason="the detector stack is not installed")
def test_evaluate_refuses_a_set_without_boxes(tmp_path, tiny_yolo_pt):
    write_image(tmp_path / "images" / "a.jpg", 32, 32)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("")
    with pytest.raises(DatasetError, match="no ground-truth boxes"):
        evaluate(tiny_yolo_pt, tmp_path)


def test_iou_thresholds_are_cocos():
    assert IOU_THRESHOLDS.tolist() == [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
