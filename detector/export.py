"""Export a trained `.pt` detector to ONNX, for the torch-free ONNX Runtime backend.

Goes through ultralytics' own exporter (offline), so the file carries ultralytics' metadata (class
names, stride, task, export size) that `OnnxDetector` reads. The default input is dynamic (any
batch, any stride-multiple height and width): one file serves every batch size and lets wide frames
run on a smaller rectangular input; `batch=N` fixes the batch and the square input size instead.
The graph is not slimmed by default: ONNX Runtime's own graph optimiser already folds what
onnxslim would (measured: same outputs, no speed difference, 3x the export time), so onnxslim is
not a dependency; `simplify=True` uses it when installed. The opset is ultralytics' choice for the
installed torch (18 for torch 2.4+), which roadscan's onnxruntime>=1.18 runs. The result
is loaded once in ONNX Runtime before it is reported as done.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import warnings
from pathlib import Path

from roadscan.core.errors import ConfigError, ModelError
from roadscan.detector.extras import TRAIN_HINT, TRAIN_INSTALL


def export_onnx(weights: Path | str, *, imgsz: int = 416, batch: int | None = None, out: Path | str | None = None,
                opset: int | None = None, simplify: bool = False) -> Path:
    """Write `weights` as ONNX (`out`, default: beside it with suffix .onnx) and return the path.

    `batch=None` exports a dynamic input; an integer fixes batch and size.
    """
    weights = Path(weights).expanduser()
    if not weights.is_file():
        raise ModelError("no such model file" if not weights.exists() else "this is a folder, not a model file",
                         path=weights, hint="give the .pt weights to export, e.g. runs/train/NAME/weights/best.pt")
    if weights.suffix.lower() != ".pt":
        raise ModelError(f"export takes PyTorch .pt weights, not '{weights.suffix}' files", path=weights)
    if imgsz < 32 or imgsz % 32:
        raise ConfigError(f"export image size {imgsz} must be a multiple of 32 (the model's stride)",
                          hint="use the size the model was trained at, e.g. 416")
    if batch is not None and batch < 1:
        raise ConfigError(f"export batch {batch} must be at least 1", hint="or leave it out for a dynamic batch")
    if importlib.util.find_spec("onnx") is None:
        raise ConfigError("ONNX export needs the onnx package, which is not installed", hint=TRAIN_HINT)
    if simplify and importlib.util.find_spec("onnxslim") is None:
        raise ConfigError("simplify needs the onnxslim package", hint="pip install onnxslim, or export without it")

    from roadscan.detector.backends.ultralytics_backend import UltralyticsDetector

    UltralyticsDetector(weights)  # its checks name the file if it is not a YOLO detection checkpoint
    out = Path(out).expanduser() if out is not None else weights.with_suffix(".onnx")
    with tempfile.TemporaryDirectory(prefix="roadscan-export-") as tmp:
        # ultralytics writes beside the weights; a copy keeps the source folder (maybe read-only) untouched
        staged = Path(shutil.copyfile(weights, Path(tmp) / weights.name))
        from ultralytics import YOLO

        try:
            with warnings.catch_warnings():  # torch's notes on its legacy exporter, which ultralytics chooses
                warnings.simplefilter("ignore")
                written = YOLO(str(staged)).export(format="onnx", imgsz=imgsz, dynamic=batch is None,
                                                   batch=batch or 1, opset=opset, simplify=simplify, device="cpu",
                                                   verbose=False)
        except Exception as e:  # ultralytics reports export failures as assorted exception types
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"ONNX export failed: {reason}", path=weights,
                             hint=f"check the training extra is complete ({TRAIN_INSTALL})") from e
        from roadscan.detector.backends.onnx_backend import OnnxDetector

        OnnxDetector(Path(written), imgsz=imgsz)  # fails here, naming the file, if ONNX Runtime cannot run it
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(written, out)
    return out
