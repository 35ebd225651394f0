"""Training the detector with ultralytics, offline, resumable, and sized for a small CPU machine.

Runs here last many hours on a shared CPU, so a run must survive being stopped: ultralytics writes
`weights/last.pt` after every epoch and `resume=True` continues from it with the same schedule.
Command line (the `roadscan train` command wraps the same function):

    python -m roadscan.detector.training build/dataset/data.yaml --name NAME [--epochs ..] [--resume]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from roadscan.detector.extras import require_train
from roadscan.detector.offline import ensure_offline
from roadscan.core.errors import ConfigError, DatasetError, ModelError

DEFAULT_PROJECT = Path("runs/train")


@dataclass
class TrainResult:
    """Where a run wrote its weights, and its last validation metrics."""

    run_dir: Path
    best: Path
    last: Path
    metrics: dict[str, float]
    seconds: float


def _last_checkpoint(run_dir: Path) -> Path:
    """The run's last.pt, if it can still be resumed (a finished run's has its optimizer stripped)."""
    import torch

    last = run_dir / "weights" / "last.pt"
    if not last.is_file():
        raise ModelError("no checkpoint to resume from", path=last,
                         hint="start the run without --resume, or check --project/--name")
    if torch.load(last, map_location="cpu", weights_only=False).get("epoch", -1) < 0:
        raise ModelError("this run has finished; there is nothing to resume", path=last,
                         hint=f"start a new run from its weights: --from {run_dir / 'weights' / 'best.pt'}")
    return last


def _pin_threads(threads: int):
    """Callback that pins torch's thread count; ultralytics resets it to cpu_count - 1 on CPU."""
    import torch

    def pin(_trainer) -> None:
        torch.set_num_threads(threads)

    return pin


def train(data_yaml: Path | str, *, model: str | Path = "yolo11n.yaml", epochs: int = 25, imgsz: int = 416,
          batch: int = 16, workers: int = 2, device: str = "cpu", project: Path | str = DEFAULT_PROJECT,
          name: str = "roadscan", resume: bool = False, cache: bool | str = "ram", close_mosaic: int = 3,
          threads: int | None = 2, plots: bool = False, seed: int = 0, hours: float | None = None,
          callbacks: Mapping[str, Callable] | None = None, **overrides) -> TrainResult:
    """Train (or resume) a detector on a dataset built by `build_dataset`.

    `model` is an architecture YAML (from scratch) or a `.pt` to fine-tune from. With `resume`,
    the run `project/name` continues from its `last.pt` with the settings it was started with
    (ultralytics lets imgsz, batch, device, workers and cache change). `threads` pins torch's
    CPU threads, since ultralytics would otherwise use all cores but one. `hours` caps the run's
    wall time: ultralytics then re-derives the epoch count from the measured epoch time, so the
    learning-rate schedule and close_mosaic still complete within the budget (also on resume,
    counted from the restart). `callbacks` maps ultralytics events (e.g. "on_fit_epoch_end") to
    functions of the trainer, for progress output.
    """
    require_train("ultralytics", "training")
    data_yaml, run_dir = Path(data_yaml), Path(project).resolve() / name
    if not data_yaml.is_file():
        raise DatasetError("dataset YAML not found", path=data_yaml,
                           hint="build it with `roadscan dataset build`")
    if not resume and (run_dir / "weights").exists():
        raise ConfigError("a training run of this name already exists", path=run_dir,
                          hint="pass --resume to continue it, or choose another --name")
    if not resume and str(model).endswith(".pt") and not Path(model).is_file():
        raise ModelError("weights to start from not found", path=model)
    ensure_offline()
    from ultralytics import YOLO

    started = time.perf_counter()
    start = _last_checkpoint(run_dir) if resume else model
    try:
        yolo = YOLO(str(start))
    except (FileNotFoundError, RuntimeError, KeyError) as exc:
        raise ModelError(f"cannot load the model to train: {exc}", path=start,
                         hint="use an ultralytics architecture YAML (yolo11n.yaml) or a .pt checkpoint") from None
    if resume:
        args = dict(resume=True, data=str(data_yaml.resolve()), workers=workers, device=device)
        if hours:
            args["time"] = hours
    else:
        args = dict(data=str(data_yaml.resolve()), epochs=epochs, imgsz=imgsz, batch=batch, workers=workers,
                    device=device, project=str(run_dir.parent), name=name, exist_ok=True, cache=cache,
                    close_mosaic=close_mosaic, plots=plots, seed=seed, amp=device != "cpu", time=hours,
                    **overrides)
    if threads:
        for event in ("on_pretrain_routine_start", "on_train_epoch_start", "on_val_start"):
            yolo.add_callback(event, _pin_threads(threads))
    for event, func in (callbacks or {}).items():
        yolo.add_callback(event, func)
    try:
        yolo.train(**args)
    except FileNotFoundError as exc:
        raise DatasetError(f"training data missing: {exc}", path=data_yaml) from None
    trainer = yolo.trainer
    return TrainResult(run_dir=Path(trainer.save_dir), best=Path(trainer.best), last=Path(trainer.last),
                       metrics={k: float(v) for k, v in (trainer.metrics or {}).items()},
                       seconds=time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m roadscan.detector.training", description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="data.yaml written by build_dataset")
    parser.add_argument("--model", default="yolo11n.yaml", help="architecture YAML to train from scratch")
    parser.add_argument("--from", dest="weights", type=Path, help="weights (.pt) to fine-tune from")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: leave to ultralytics)")
    parser.add_argument("--cache", default="ram", help="ram, disk or none")
    parser.add_argument("--close-mosaic", type=int, default=3)
    parser.add_argument("--hours", type=float, help="wall-time budget; the epoch count adapts to it")
    parser.add_argument("--project", type=Path, default=DEFAULT_PROJECT)
    parser.add_argument("--name", required=True)
    parser.add_argument("--resume", action="store_true", help="continue project/name from weights/last.pt")
    args = parser.parse_args(argv)
    result = train(args.data, model=args.weights or args.model, epochs=args.epochs, imgsz=args.imgsz,
                   batch=args.batch, workers=args.workers, device=args.device, project=args.project,
                   name=args.name, resume=args.resume, cache=False if args.cache == "none" else args.cache,
                   close_mosaic=args.close_mosaic, threads=args.threads or None, hours=args.hours)
    print(f"run {result.run_dir}: best {result.best}, {result.seconds / 3600:.2f} h, {result.metrics}")


if __name__ == "__main__":
    main()
