"""Ultralytics under roadscan never touches the network: not to predict, plot or train."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# find_spec, not importorskip: importing ultralytics before ensure_offline() would let it go online
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None,
                                reason="the detector stack (pip install 'roadscan[train]') is not installed")

# Runs in a fresh interpreter (so ultralytics is imported after ensure_offline, as in production)
# with every socket entry point replaced by one that records the attempt and fails.
SCENARIO = r'''
import json, socket, sys, traceback
from pathlib import Path

attempts = []

def refuse(name):
    def blocked(*args, **kwargs):
        attempts.append({"call": name, "args": repr(args)[:120], "stack": "".join(traceback.format_stack(limit=6))})
        raise OSError(f"network blocked by the test ({name})")
    return blocked

socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect_ex")
socket.create_connection = refuse("create_connection")
socket.getaddrinfo = refuse("getaddrinfo")
socket.gethostbyname = refuse("gethostbyname")

import numpy as np
from PIL import Image

from roadscan.detector.offline import config_dir, ensure_offline

ensure_offline()
from ultralytics import YOLO
from ultralytics.nn.tasks import DetectionModel
from ultralytics.utils import SETTINGS, USER_CONFIG_DIR, WEIGHTS_DIR

from roadscan.detector.backends import load_detector
from roadscan.core.classes import CLASS_CODES

tmp = Path(sys.argv[1])
report = {}
model = YOLO("yolov8n.yaml")
model.model = DetectionModel("yolov8n.yaml", nc=5, verbose=False)
model.model.names = dict(enumerate(CLASS_CODES))
model.save(tmp / "tiny.pt")

detector = load_detector(tmp / "tiny.pt", conf=0.0, imgsz=64)
rng = np.random.default_rng(0)
images = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), rng.integers(0, 256, (72, 56, 3), dtype=np.uint8)]
report["detections"] = [len(d) for d in detector.predict(images)]
results = detector._model.predict([im[..., ::-1] for im in images], conf=0.0, imgsz=64, verbose=False)
report["plot_shapes"] = [list(results[0].plot().shape), list(np.asarray(results[1].plot(pil=True)).shape)]

# the GPU AMP check before training loads yolo26n.pt by name, which would download it
try:
    YOLO(WEIGHTS_DIR / "yolo26n.pt")
    report["amp_weights"] = "loaded"
except ConnectionError as e:
    report["amp_weights"] = f"refused: {e}"

data = tmp / "ds"
for split in ("train", "val"):
    for sub in ("images", "labels"):
        (data / split / sub).mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(data / split / "images" / f"{i}.jpg")
        (data / split / "labels" / f"{i}.txt").write_text(f"{i % 5} 0.5 0.5 0.4 0.3\n")
(tmp / "data.yaml").write_text(
    f"path: {data}\ntrain: train/images\nval: val/images\nnames:\n"
    + "".join(f"  {i}: {code}\n" for i, code in enumerate(CLASS_CODES)))
YOLO(tmp / "tiny.pt").train(data=str(tmp / "data.yaml"), epochs=1, imgsz=64, batch=2, workers=0, plots=True,
                            project=str(tmp / "runs"), name="train", device="cpu", verbose=False)
report["run_files"] = sorted(p.name for p in (tmp / "runs" / "train").iterdir())
report["config_dir"] = str(USER_CONFIG_DIR)
report["private_dir"] = str(config_dir())
report["fonts"] = {p.name: str(p.resolve()) for p in Path(USER_CONFIG_DIR).glob("*.ttf")}
report["settings"] = {k: SETTINGS[k] for k in ("sync", "runs_dir", "clearml", "comet", "mlflow", "wandb")}
report["attempts"] = attempts[:]

# control: the blocker does catch an ordinary HTTP request, so zero attempts above means something
import urllib.request
try:
    urllib.request.urlopen("http://example.com", timeout=1)
except OSError:
    pass
report["control_attempts"] = len(attempts) - len(report["attempts"])
print("REPORT " + json.dumps(report))
'''


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("offline")
    script = tmp / "scenario.py"
    script.write_text(SCENARIO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "PYTEST_"))}  # not "under pytest"
    env["TMPDIR"] = str(tmp / "tmpdir")  # a fresh private ultralytics folder, as on a new machine
    (tmp / "tmpdir").mkdir()
    done = subprocess.run([sys.executable, str(script), str(tmp)], capture_output=True, text=True, env=env,
                          cwd=tmp, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))
    report["tmp"] = str(tmp)
    return report


def test_predict_plot_and_train_make_no_connection_attempt(offline_run):
    assert offline_run["control_attempts"] >= 1, "the socket blocker missed an HTTP request"
    attempts = offline_run["attempts"]
    assert attempts == [], "\n\n".join(f"{a['call']}{a['args']}\n{a['stack']}" for a in attempts)
    assert len(offline_run["detections"]) == 2
    assert offline_run["plot_shapes"] == [[48, 64, 3], [72, 56, 3]]
    files = offline_run["run_files"]
    for name in ("weights", "results.csv", "labels.jpg", "train_batch0.jpg", "results.png"):
        assert name in files


def test_weights_by_name_are_refused_not_fetched(offline_run):
    assert offline_run["amp_weights"].startswith("refused: roadscan runs ultralytics offline")


def test_fonts_come_from_matplotlib(offline_run):
    import matplotlib

    dejavu = str((Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf").resolve())
    assert offline_run["fonts"] == {"Arial.ttf": dejavu, "Arial.Unicode.ttf": dejavu}


def test_settings_live_in_a_private_temp_folder(offline_run):
    private = Path(offline_run["private_dir"])
    assert private.is_relative_to(Path(offline_run["tmp"]) / "tmpdir")
    assert Path(offline_run["config_dir"]).is_relative_to(private)
    settings = offline_run["settings"]
    assert settings["sync"] is False and not any(settings[k] for k in ("clearml", "comet", "mlflow", "wandb"))
    assert Path(settings["runs_dir"]).is_relative_to(private)


def test_download_functions_refuse_remote_urls_in_process():
    from roadscan.detector.offline import DownloadRefused, config_dir, ensure_offline

    ensure_offline()
    ensure_offline()  # idempotent
    from ultralytics.utils import downloads

    with pytest.raises(DownloadRefused, match="does not download https://example.com/x.pt"):
        downloads.safe_download("https://example.com/x.pt")
    with pytest.raises(ConnectionError):
        downloads.attempt_download_asset("yolo26n.pt")
    assert downloads.is_url("https://example.com/x.pt") is True  # parsing is fine
    assert downloads.is_url("https://example.com/x.pt", check=True) is False  # reaching it is not
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert config_dir().is_relative_to(Path(tempfile.gettempdir()))


def test_pillow_open_is_pillows_own_after_ensure_offline(tmp_path):
    """ultralytics patches PIL.Image.open to pip-install a HEIC plugin for unknown files; we undo that."""
    from PIL import Image, UnidentifiedImageError

    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    import ultralytics.utils.patches  # noqa: F401  (the module that patches on import)

    bogus = tmp_path / "not-an-image.jpg"
    bogus.write_bytes(b"plain text")
    with pytest.raises(UnidentifiedImageError):
        Image.open(bogus)
