"""Adapting the shipped detector to a user's own road network from a folder of their labelled frames.

A model trained on other countries' roads misses much on a new network (DNIT roads: pothole AP50
0.15 before adaptation). A municipality has a few hundred frames it can label; fine-tuning the
shipped weights on them, with the backbone frozen and a low learning rate, moves the new domain
without a full retraining. The folder is turned into an ordinary dataset build (so the same split
rules apply: whole roads held out when the names carry the road, else a contiguous tail), trained
by `training.train`, and exported to ONNX for the torch-free pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from roadscan.core.classes import CLASS_CODES
from roadscan.core.errors import DatasetError
from roadscan.detector.dataset import IMAGE_SUFFIXES, BuildResult, build_dataset
from roadscan.detector.training import DEFAULT_PROJECT, TrainResult, train

# Fine-tuning defaults, chosen on the DNIT roads (detector/models/TRAINING.md, "adaptation"):
# freezing the first 10 layers (yolo11n's backbone) keeps what the large sets taught about
# pavement texture; a few epochs at a low rate move the heads to the new camera and roads.
FREEZE_LAYERS = 10
EPOCHS = 10
LR0 = 5e-4
REPLAY_FRAMES = 200  # images of the general training set mixed in with --replay


@dataclass
class AdaptResult:
    dataset: BuildResult
    run: TrainResult
    onnx: Path | None


def is_frames_folder(path: Path | str) -> bool:
    """A YOLO folder (images/ + labels/) rather than a data.yaml: what `roadscan train` adapts to."""
    path = Path(path)
    return path.is_dir() and (path / "images").is_dir() and (path / "labels").is_dir()


def frames_sources(folder: Path, classes: Mapping[str, str | None], *, val_groups: list[str] | None = None,
                   group_pattern: str | None = None, val_fraction: float = 0.2,
                   frames: int | None = None, replay: Path | str | None = None,
                   replay_frames: int = REPLAY_FRAMES) -> dict:
    """The dataset definition (as `datasets/sources.yaml` holds) of one user folder."""
    folder = Path(folder).resolve()
    for sub in ("images", "labels"):
        if not (folder / sub).is_dir():
            raise DatasetError(f"a folder of labelled frames needs {sub}/ (YOLO format)", path=folder,
                               hint="images/NAME.jpg with labels/NAME.txt: one 'class cx cy w h' line per box")
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in (folder / "images").iterdir()):
        raise DatasetError("no images in images/", path=folder)
    if not classes:
        raise DatasetError("the labels' class ids need a mapping onto roadscan's classes", path=folder,
                           hint="e.g. --classes 0=D20,1=D40 (D00, D10, D20, D40, Repair; none drops a class)")
    if val_groups:
        split = {"val_groups": list(val_groups)}
        if group_pattern:  # else the dataset definition's own default (the name up to its first '_')
            split["group_pattern"] = group_pattern
    else:
        split = {"val_fraction": val_fraction}
    source = {"format": "yolo", "images": str(folder / "images"), "labels": str(folder / "labels"),
              "classes": {int(k): v for k, v in classes.items()}, "split": split}
    if frames is not None:
        source["train_frames"] = frames
    sources = {"frames": source}
    if replay is not None:
        sources["replay"] = replay_source(replay, replay_frames)
    return {"data_root": str(folder), "sources": sources}


def replay_source(build: Path | str, frames: int) -> dict:
    """`frames` training images of an earlier dataset build, mixed in so the model keeps what it knew.

    Fine-tuning on a network whose labels name only some classes (DNIT: one crack class and
    potholes) teaches the model that the other classes are background; replaying a share of the
    general training set is the usual remedy against that forgetting.
    """
    build = Path(build).resolve()
    if build.is_file():  # its data.yaml
        build = build.parent
    images, labels = build / "images" / "train", build / "labels" / "train"
    if not images.is_dir() or not labels.is_dir():
        raise DatasetError("not a dataset build with training images (images/train, labels/train)", path=build,
                           hint="give the folder `roadscan dataset build` wrote, e.g. build/dataset")
    return {"format": "yolo", "classes": dict(enumerate(CLASS_CODES)), "train_frames": frames,
            "train": {"images": str(images), "labels": str(labels)}}


def build_frames_dataset(folder: Path | str, out_dir: Path | str, classes: Mapping[str, str | None],
                         **split) -> BuildResult:
    """Write the ultralytics build of a user folder into out_dir (its definition beside it)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    definition = out_dir.with_name(out_dir.name + "-sources.yaml")
    definition.write_text("# written by roadscan train from a folder of labelled frames\n"
                          + yaml.safe_dump(frames_sources(Path(folder), classes, **split), sort_keys=False))
    return build_dataset(definition, out_dir)


def adapt(folder: Path | str, name: str, *, model: Path | str, classes: Mapping[str, str | None],
          val_groups: list[str] | None = None, group_pattern: str | None = None, val_fraction: float = 0.2,
          frames: int | None = None, replay: Path | str | None = None, replay_frames: int = REPLAY_FRAMES,
          epochs: int = EPOCHS, imgsz: int = 416, batch: int = 16,
          freeze: int = FREEZE_LAYERS, lr0: float = LR0, project: Path | str = DEFAULT_PROJECT,
          device: str = "cpu", export: bool = True, **overrides) -> AdaptResult:
    """Fine-tune `model` on a folder of labelled frames; return the build, the run and the ONNX file."""
    run_dir = Path(project) / name
    dataset = build_frames_dataset(folder, run_dir.parent / f"{name}-dataset", classes, val_groups=val_groups,
                                   group_pattern=group_pattern, val_fraction=val_fraction, frames=frames,
                                   replay=replay, replay_frames=replay_frames)
    # One validation at the end: per-epoch validation would cost as much as the training itself.
    args = dict(freeze=freeze, optimizer="AdamW", lr0=lr0, warmup_epochs=0, close_mosaic=min(2, epochs), val=False)
    run = train(dataset.data_yaml, model=model, epochs=epochs, imgsz=imgsz, batch=batch, name=name,
                project=project, device=device, **(args | overrides))
    onnx = None
    if export:
        from roadscan.detector.export import export_onnx

        onnx = export_onnx(run.best, imgsz=imgsz)
    return AdaptResult(dataset, run, onnx)
