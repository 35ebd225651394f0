"""load_detector and the ultralytics backend, on a tiny untrained YOLO built in the test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from roadscan.detector.backends import Detector, batched, load_detector
from roadscan.detector.detections import Detections
from roadscan.core.errors import ConfigError, ModelError

# find_spec, not importorskip: importing ultralytics before ensure_offline() would let it go online
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None,
                                reason="the detector stack (pip install 'roadscan[train]') is not installed")


def noise(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def detector(tiny_yolo_pt):
    # An untrained model scores everything low: confidence 0 makes it return boxes to check.
    return load_detector(tiny_yolo_pt, conf=0.0, imgsz=64, batch=2)


def test_batched():
    assert list(batched(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(batched([], 3)) == []
    with pytest.raises(ValueError):
        list(batched([1], 0))


def test_loads_a_local_checkpoint_with_our_classes(detector, tiny_yolo_pt):
    assert isinstance(detector, Detector)
    assert detector.name == "ultralytics:tiny.pt"
    assert detector.codes == {0: "D00", 1: "D10", 2: "D20", 3: "D40", 4: "Repair"}


def test_one_detections_per_image_with_boxes_inside_each(detector):
    images = [noise(48, 64, 0), noise(120, 90, 1), noise(64, 64, 2)]  # 3 images in batches of 2
    results = detector.predict(images)
    assert len(results) == 3 and all(isinstance(d, Detections) for d in results)
    for image, dets in zip(images, results):
        assert len(dets) > 0
        h, w = image.shape[:2]
        x1, y1, x2, y2 = dets.xyxy.T
        assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= w).all() and (y2 <= h).all()
        assert (x2 >= x1).all() and (y2 >= y1).all()
        assert set(dets.code) <= {"D00", "D10", "D20", "D40", "Repair"}
        assert ((dets.confidence >= 0) & (dets.confidence <= 1)).all()
    assert detector.predict([]) == []


def test_images_go_to_ultralytics_as_bgr(tiny_yolo_pt):
    """The backend takes RGB; ultralytics reads numpy arrays as OpenCV BGR, so channels must be swapped."""
    detector = load_detector(tiny_yolo_pt, imgsz=64)
    seen = []  # what ultralytics' predictor got, through its public callback hook
    detector._model.add_callback("on_predict_batch_start", lambda predictor: seen.extend(predictor.batch[1]))
    rgb = noise(40, 56, 3)
    detector.predict([rgb])
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], rgb[..., ::-1])


def test_confidence_threshold_applies(tiny_yolo_pt, detector):
    image = noise(64, 64, 4)
    everything = detector.predict([image])[0]
    cut = float(np.median(everything.confidence))
    strict = load_detector(tiny_yolo_pt, conf=cut, imgsz=64).predict([image])[0]
    assert 0 < len(strict) < len(everything) and (strict.confidence >= cut - 1e-6).all()


def test_wrong_image_input_is_a_caller_bug(detector):
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.predict([np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.predict([np.zeros((8, 8, 3), np.float32)])


def test_class_names_of_other_models_map_to_our_codes(tmp_path, tiny_yolo_pt):
    from ultralytics import YOLO

    model = YOLO(tiny_yolo_pt)
    model.model.names = {0: "pothole", 1: "Longitudinal Crack", 2: "manhole", 3: "D20", 4: "Repair"}
    path = tmp_path / "renamed.pt"
    model.save(path)
    assert load_detector(path).codes == {0: "D40", 1: "D00", 2: "manhole", 3: "D20", 4: "Repair"}


# --- bad models and options --------------------------------------------------------------------------


def test_missing_weights(tmp_path):
    with pytest.raises(ModelError, match="no such model file") as err:
        load_detector(tmp_path / "best.pt")
    assert err.value.path == tmp_path / "best.pt"


def test_folder_instead_of_weights(tmp_path):
    with pytest.raises(ModelError, match="folder"):
        load_detector(tmp_path)


def test_garbage_weights(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError, match="cannot load these YOLO weights") as err:
        load_detector(path)
    assert err.value.path == path and err.value.hint


def test_truncated_weights(tmp_path, tiny_yolo_pt):
    path = tmp_path / "half.pt"
    path.write_bytes(tiny_yolo_pt.read_bytes()[: tiny_yolo_pt.stat().st_size // 2])
    with pytest.raises(ModelError, match="cannot load these YOLO weights"):
        load_detector(path)


def test_plain_torch_file_is_not_a_yolo_checkpoint(tmp_path):
    import torch

    path = tmp_path / "state.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match="cannot load these YOLO weights"):
        load_detector(path)


def test_weights_of_another_format(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x01")
    with pytest.raises(ModelError, match=r"loads PyTorch \.pt weights"):
        load_detector(path, backend="ultralytics")


def test_classification_model_is_refused(tmp_path):
    from ultralytics import YOLO

    path = tmp_path / "classify.pt"
    YOLO("yolov8n-cls.yaml").save(path)
    with pytest.raises(ModelError, match="'classify' model; roadscan needs an object-detection model") as err:
        load_detector(path)
    assert err.value.path == path


def test_bad_options(tiny_yolo_pt):
    with pytest.raises(ConfigError, match="unknown detector backend 'tensorrt'"):
        load_detector(tiny_yolo_pt, backend="tensorrt")
    with pytest.raises(ConfigError, match="confidence 1.5"):
        load_detector(tiny_yolo_pt, conf=1.5)
    with pytest.raises(ConfigError, match="batch 0"):
        load_detector(tiny_yolo_pt, batch=0)


def test_unavailable_device(tiny_yolo_pt):
    with pytest.raises(ConfigError, match="cannot run the detector on device 'cuda:99'"):
        load_detector(tiny_yolo_pt, device="cuda:99")


def test_api_side_imports_need_no_torch():
    """Importing the detector package (as the API server does) must not pull in torch or ultralytics."""
    import subprocess
    import sys

    code = ("import sys, roadscan.detector.backends, roadscan.detector.footage, roadscan.detector.detections;"
            "bad = [m for m in ('torch', 'ultralytics') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert done.returncode == 0, done.stdout + done.stderr
