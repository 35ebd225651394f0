"""The ONNX Runtime backend and its numpy/OpenCV pre- and post-processing, checked against ultralytics."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from roadscan.detector.backends import load_detector
from roadscan.detector.backends.yolo_ops import decode, letterbox_batch, nms
from roadscan.detector.metrics import box_iou
from roadscan.core.errors import ConfigError, ModelError

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("ultralytics", "onnx", "onnxruntime")),
    reason="the detector stack (pip install 'roadscan[train]') is not installed")


def noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def ultralytics_ops():
    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils import ops

    return LetterBox, ops


@pytest.fixture(scope="module")
def tiny_onnx(tiny_yolo_pt, tmp_path_factory) -> Path:
    from roadscan.detector.export import export_onnx

    return export_onnx(tiny_yolo_pt, imgsz=64, out=tmp_path_factory.mktemp("onnx") / "tiny.onnx")


# -------------------------------------------------------------------------------- pre/post ops


@pytest.mark.parametrize("shape,rect", [((512, 512), True), ((1080, 1920), True), ((1080, 1920), False),
                                        ((333, 517), True), ((480, 200), False)])
def test_letterbox_matches_ultralytics_pixel_for_pixel(ultralytics_ops, shape, rect):
    LetterBox, _ = ultralytics_ops
    frames = [noise(*shape, seed=1), noise(*shape, seed=2)]
    batch, boxes = letterbox_batch(frames, (416, 416), stride=32, rect=rect)
    for frame, ours in zip(frames, batch):
        theirs = LetterBox((416, 416), auto=rect, stride=32)(image=frame)  # channel-agnostic: RGB in, RGB out
        assert ours.shape == (3, *theirs.shape[:2])
        np.testing.assert_array_equal(np.rint(ours * 255).astype(np.uint8).transpose(1, 2, 0), theirs)
    assert boxes[0] == boxes[1]  # same size, same letterbox


def test_mixed_sizes_share_the_square_input():
    batch, boxes = letterbox_batch([noise(100, 200, 0), noise(300, 100, 1)], (128, 128), rect=True)
    assert batch.shape == (2, 3, 128, 128) and boxes[0] != boxes[1]


@pytest.mark.parametrize("shape", [(512, 512), (1080, 1920), (333, 517)])
def test_boxes_map_back_like_ultralytics(ultralytics_ops, shape):
    _, ops = ultralytics_ops
    import torch

    batch, (box,) = letterbox_batch([noise(*shape, seed=0)], (416, 416), rect=True)
    xyxy = np.random.default_rng(0).uniform(0, min(batch.shape[2:]), (20, 4)).astype(np.float32)
    xyxy[:, 2:] += xyxy[:, :2]
    theirs = ops.scale_boxes(batch.shape[2:], torch.from_numpy(xyxy.copy()), shape).numpy()
    np.testing.assert_allclose(box.to_original(xyxy, shape[1], shape[0]), theirs, atol=1e-3)


def test_nms_keeps_what_torchvision_keeps():
    import torch
    import torchvision

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (500, 2))
    xyxy = np.c_[xy, xy + rng.uniform(5, 60, (500, 2))].astype(np.float32)
    scores, classes = rng.random(500).astype(np.float32), rng.integers(0, 5, 500)
    ours = nms(xyxy, scores, classes, 0.5)
    theirs = torchvision.ops.batched_nms(torch.from_numpy(xyxy), torch.from_numpy(scores),
                                         torch.from_numpy(classes), 0.5).numpy()
    assert 50 < len(ours) < 500 and sorted(ours.tolist()) == sorted(theirs.tolist())
    assert (np.diff(scores[ours]) <= 0).all()  # best first
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int), 0.5).shape == (0,)


def test_decode_raw_head_and_end_to_end_rows():
    pred = np.zeros((4 + 2, 3), np.float32)  # 2 classes, 3 anchors: centre-size boxes
    pred[:4] = np.array([[10, 10, 4, 4], [11, 10, 4, 4], [50, 50, 10, 10]]).T
    pred[4:] = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.3]]).T
    xyxy, conf, cls = decode(pred, conf=0.25, iou=0.5)
    np.testing.assert_allclose(xyxy, [[8, 8, 12, 12], [45, 45, 55, 55]])  # the 0.8 twin is suppressed
    assert conf.tolist() == pytest.approx([0.9, 0.3]) and cls.tolist() == [0, 1]
    rows = np.array([[1, 2, 3, 4, 0.9, 3], [0, 0, 1, 1, 0.1, 0]], np.float32)
    xyxy, conf, cls = decode(rows, conf=0.25, iou=0.5, end2end=True)
    assert xyxy.tolist() == [[1, 2, 3, 4]] and cls.tolist() == [3]


# ----------------------------------------------------------------------------------- detector


def _matched(a, b) -> float:
    """Share of boxes in `a` with a same-class, same-confidence box in `b` at IoU > 0.99."""
    if not len(a):
        return 1.0 if not len(b) else 0.0
    ok = (box_iou(a.xyxy, b.xyxy) > 0.99) & (a.code[:, None] == b.code[None, :]) & (
        np.abs(a.confidence[:, None] - b.confidence[None, :]) < 1e-4)
    return float(ok.any(axis=1).mean())


def test_same_detections_as_the_ultralytics_backend(tiny_yolo_pt, tiny_onnx):
    # an untrained model scores everything low: confidence 0.001 leaves boxes to compare
    pt = load_detector(tiny_yolo_pt, conf=0.001, imgsz=64, batch=2)
    ox = load_detector(tiny_onnx, conf=0.001, imgsz=64, batch=2)
    for frames in ([noise(48, 64, 0), noise(120, 90, 1), noise(64, 64, 2)],  # mixed sizes: square input
                   [noise(90, 160, 3), noise(90, 160, 4)]):  # one wide size: the rect input
        for a, b in zip(pt.predict(frames), ox.predict(frames)):
            assert len(a) > 0 and abs(len(a) - len(b)) <= 2
            assert _matched(a, b) > 0.95 and _matched(b, a) > 0.95


def test_reads_class_names_from_the_onnx_metadata(tiny_onnx):
    det = load_detector(tiny_onnx, imgsz=64)  # picked by suffix
    assert type(det).__name__ == "OnnxDetector" and det.name == "onnx:tiny.onnx"
    assert det.codes == {0: "D00", 1: "D10", 2: "D20", 3: "D40", 4: "Repair"}
    assert det.dynamic and det.imgsz == (64, 64)
    assert det.predict([]) == []


def test_static_batch_export_pads_the_last_batch(tiny_yolo_pt, tiny_onnx, tmp_path):
    from roadscan.detector.export import export_onnx

    static = export_onnx(tiny_yolo_pt, imgsz=64, batch=2, out=tmp_path / "static.onnx")
    frames = [noise(64, 64, i) for i in range(3)]
    fixed = load_detector(static, conf=0.001, imgsz=640, batch=8)  # the file's own batch and size win
    assert not fixed.dynamic and (fixed.batch, fixed.imgsz) == (2, (64, 64))
    dynamic = load_detector(tiny_onnx, conf=0.001, imgsz=64)
    for a, b in zip(fixed.predict(frames), dynamic.predict(frames)):
        assert _matched(a, b) > 0.99 and len(a) == len(b)


def test_backend_and_file_kind_must_agree(tiny_yolo_pt, tiny_onnx):
    with pytest.raises(ModelError, match=r"loads PyTorch \.pt weights"):
        load_detector(tiny_onnx, backend="ultralytics")
    with pytest.raises(ModelError, match=r"loads \.onnx files") as err:
        load_detector(tiny_yolo_pt, backend="onnx")
    assert "roadscan export" in err.value.hint


def test_files_that_are_no_yolo_onnx_model(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x01not a model")
    with pytest.raises(ModelError, match="cannot load this ONNX model") as err:
        load_detector(garbage)
    assert err.value.path == garbage
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), other)
    with pytest.raises(ModelError, match="not a YOLO detection model"):
        load_detector(other)


def test_unavailable_device(tiny_onnx):
    with pytest.raises(ConfigError, match="cannot run the ONNX detector on device 'cuda:99'"):
        load_detector(tiny_onnx, device="cuda:99")


def test_export_errors_name_the_file(tmp_path):
    from roadscan.detector.export import export_onnx

    with pytest.raises(ModelError, match="no such model file") as err:
        export_onnx(tmp_path / "best.pt")
    assert err.value.path == tmp_path / "best.pt"
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot load these YOLO weights"):
        export_onnx(bad)
    with pytest.raises(ConfigError, match="multiple of 32"):
        export_onnx(bad, imgsz=100)


def test_inference_needs_no_torch(tiny_onnx):
    """What a survey laptop with only onnxruntime runs: the ONNX path never imports torch."""
    code = ("import sys, numpy as np; from roadscan.detector.backends import load_detector;"
            f"d = load_detector(r'{tiny_onnx}', conf=0.001, imgsz=64);"
            "r = d.predict([np.zeros((50, 70, 3), np.uint8)]);"
            "bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; print(len(r), bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stdout + done.stderr
