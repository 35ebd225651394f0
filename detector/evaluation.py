"""Score a detector on a labelled image set: `evaluate(model, data) -> Evaluation`, with a report.

The set can be a Pascal VOC folder (images/ + annotations/), a YOLO folder (images/ + labels/), an
ultralytics data YAML (its `val` images), or the name of a source in datasets/sources.yaml (its
validation split, exactly as `roadscan dataset build` holds it out). Predictions come from
`load_detector`, so a .pt and its ONNX export are scored by the same code (`metrics.py`).

Class ids and names are mapped onto our codes: VOC names and YAML `names` through `code_for`; YOLO
folders by our training order, unless the folder is a source in sources.yaml (the Kolkata set's
0 is a pothole) or `classes` says otherwise ({"0": "D40"}, {"D44": None} to drop a class).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from roadscan.core.classes import CLASS_CODES, code_for
from roadscan.detector.dataset import DEFAULT_SOURCES, IMAGE_SUFFIXES, read_voc, read_yolo
from roadscan.detector.detections import Detections
from roadscan.detector.metrics import Metrics, score
from roadscan.detector.thresholds import ClassThresholds, at_thresholds, derive, read_thresholds, write_thresholds
from roadscan.core.errors import ConfigError, DatasetError

VOC_LABEL_DIRS = ("annotations", "Annotations", "xml")
VOC_IMAGE_DIRS = ("images", "JPEGImages")


@dataclass
class EvalSet:
    """Images and their ground truth, one Detections (confidence 1) per image."""

    name: str
    images: list[Path]
    truth: list[Detections] = field(repr=False)
    classes_from: str  # where the class mapping came from, for the report
    groups: list[str] | None = field(default=None, repr=False)  # each image's validation set (a data YAML's val folders)

    @property
    def instances(self) -> int:
        return sum(len(t) for t in self.truth)


# ------------------------------------------------------------------------------------ class maps


def parse_classes(spec: str | None) -> dict[str, str | None] | None:
    """'0=D40,1=pothole,D44=none' -> {'0': 'D40', '1': 'D40', 'D44': None}: the --classes option."""
    if not spec:
        return None
    out: dict[str, str | None] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"--classes item '{item}' is not ID=CODE", hint="e.g. --classes 0=D40 or D44=none")
        value = value.strip()
        out[key.strip()] = None if value.lower() in ("none", "null", "drop") else _our_code(value)
    return out


def _our_code(name: str) -> str:
    code = code_for(name)
    if code not in CLASS_CODES:
        raise ConfigError(f"'{name}' is not a roadscan class", hint=f"use one of {', '.join(CLASS_CODES)} (or none)")
    return code


def _map_codes(boxes: pd.DataFrame, mapping: Mapping[str, str | None], where: Path) -> pd.DataFrame:
    """Raw class labels -> our codes; labels the mapping lacks are an error naming the file."""
    unknown = sorted(set(boxes["code"]) - set(mapping))
    if unknown:
        raise DatasetError(f"class labels {unknown} have no roadscan class", path=where,
                           hint="map them with --classes, e.g. --classes " + ",".join(f"{u}=D40" for u in unknown[:1])
                           + " (or =none to leave them out)")
    return boxes.assign(code=boxes["code"].map(dict(mapping))).dropna(subset=["code"])


# --------------------------------------------------------------------------------------- readers


def _truth(images: list[Path], boxes: pd.DataFrame, where: Path) -> list[Detections]:
    """One Detections per image from a box frame keyed by image stem."""
    stems = {p.stem: i for i, p in enumerate(images)}
    orphans = sorted(set(boxes["image"]) - set(stems))
    if orphans:
        raise DatasetError(f"{len(orphans)} label files have no image, e.g. {orphans[0]}", path=where)
    per_image: list[list[int]] = [[] for _ in images]
    for row, stem in enumerate(boxes["image"]):
        per_image[stems[stem]].append(row)
    xyxy, codes = boxes[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), boxes["code"].to_numpy(object)
    return [Detections(xyxy[r], np.ones(len(r), np.float32), codes[r]) for r in per_image]


def _image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError("no images (.jpg, .png, ...) in this folder", path=folder)
    return files


def _label_files(folder: Path, suffix: str) -> list[Path]:
    files = sorted(folder.glob(f"*{suffix}"))
    if not files:
        raise DatasetError(f"no label files (*{suffix}) in this folder: nothing to score against", path=folder,
                           hint="give a folder with ground truth: images/ with annotations/ (VOC) or labels/ (YOLO)")
    return files


def _yolo_set(name: str, images_dir: Path, labels_dir: Path, mapping: Mapping[str, str | None] | None,
              classes_from: str) -> EvalSet:
    images = _image_files(images_dir)
    labels = _label_files(labels_dir, ".txt")
    if mapping is None:
        mapping = {str(i): c for i, c in enumerate(CLASS_CODES)}
        classes_from = "roadscan class order (0=D00 ... 4=Repair)"
    try:
        ids = {int(k): k for k in mapping}
    except ValueError:
        raise ConfigError("YOLO labels hold class ids: map them as ID=CODE, e.g. --classes 0=D40") from None
    boxes = read_yolo(labels, images_dir, ids)  # the raw id (as text) per box; mapped to codes next
    return EvalSet(name, images, _truth(images, _map_codes(boxes, mapping, labels_dir), labels_dir), classes_from)


def _voc_set(name: str, images_dir: Path, xml_dir: Path, mapping: Mapping[str, str | None] | None) -> EvalSet:
    images = _image_files(images_dir)
    boxes = read_voc(_label_files(xml_dir, ".xml"))
    classes_from = "--classes"
    if mapping is None:
        mapping = {n: code_for(n) for n in set(boxes["code"]) if code_for(n) in CLASS_CODES}
        classes_from = "VOC class names"
    return EvalSet(name, images, _truth(images, _map_codes(boxes, mapping, xml_dir), xml_dir), classes_from)


def _yaml_set(path: Path, mapping: Mapping[str, str | None] | None) -> EvalSet:
    """The `val` images of an ultralytics data YAML; labels where ultralytics looks (images/ -> labels/)."""
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise DatasetError(f"not valid YAML ({e})", path=path) from None
    if isinstance(spec, dict) and "sources" in spec:
        raise DatasetError("this is a dataset definition (sources.yaml), not a data YAML", path=path,
                           hint="pass a source name (--data kolkata) with --sources, or a built data_*_val.yaml")
    if not isinstance(spec, dict) or "val" not in spec or "names" not in spec:
        raise DatasetError("an ultralytics data YAML needs `val:` and `names:`", path=path)
    root = (path.parent / spec.get("path", ".")).resolve()
    names = spec["names"] if isinstance(spec["names"], dict) else dict(enumerate(spec["names"]))
    if mapping is None:
        mapping = {str(i): code_for(n) if code_for(n) in CLASS_CODES else None for i, n in names.items()}
    sets = []
    vals = [spec["val"]] if isinstance(spec["val"], str) else spec["val"]
    for val in vals:
        images_dir = root / val
        if not images_dir.is_dir():
            raise DatasetError(f"validation folder {images_dir} does not exist", path=path)
        labels_dir = Path("/labels/".join(f"{images_dir.as_posix()}/".rsplit("/images/", 1)))  # ultralytics' rule
        sets.append(_yolo_set(path.stem, images_dir, labels_dir, mapping, f"`names` of {path.name}"))
    return EvalSet(path.stem, [p for s in sets for p in s.images], [t for s in sets for t in s.truth],
                   sets[0].classes_from, groups=[Path(v).name for v, s in zip(vals, sets) for _ in s.images])


def _source_set(name: str, sources_yaml: Path) -> EvalSet:
    """The validation split of one source of a dataset definition, as `build_dataset` holds it out."""
    from roadscan.detector.dataset import _load_sources, _source_frames

    root, sources = _load_sources(sources_yaml, None)
    frames, boxes = _source_frames(name, sources[name], root, sources_yaml)
    val = frames[frames["split"] == "val"]
    images = list(val["file"])
    boxes = boxes[boxes["image"].isin(set(val["stem"]))]
    return EvalSet(name, images, _truth(images, boxes, sources_yaml), f"{sources_yaml.name} ({name})")


def _known_source(folder: Path, sources_yaml: Path) -> tuple[str, dict] | None:
    """(name, classes) of the YOLO source in sources.yaml whose images or labels live in `folder`."""
    try:
        spec = yaml.safe_load(sources_yaml.read_text())
        root = (sources_yaml.parent / spec.get("data_root", ".")).resolve()
        for name, src in spec["sources"].items():
            parts = [src] if "images" in src else [src.get(k, {}) for k in ("train", "val")]
            for part in parts:
                dirs = {(root / part[k]).resolve() for k in ("images", "labels") if k in part}
                if folder.resolve() in dirs | {d.parent for d in dirs} and src.get("format") == "yolo":
                    return name, {str(k): v for k, v in src.get("classes", {}).items()}
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return None
    return None


def load_eval_set(data: Path | str, *, classes: Mapping[str, str | None] | None = None,
                  sources_yaml: Path | str = DEFAULT_SOURCES) -> EvalSet:
    """Images and ground truth of `data` (folder, data YAML or source name); see the module doc."""
    path, sources_yaml = Path(data).expanduser(), Path(sources_yaml)
    if not path.exists():
        names = _source_names(sources_yaml)
        if str(data) in names:
            return _source_set(str(data), sources_yaml)
        raise DatasetError("no such file or folder" + (f", nor a source in {sources_yaml.name}" if names else ""),
                           path=path, hint=f"give a VOC or YOLO folder, a data YAML, or one of: {', '.join(names)}"
                           if names else "give a VOC or YOLO folder or a data YAML")
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise DatasetError("expected a folder or an ultralytics data YAML", path=path)
        return _yaml_set(path, classes)
    if path.name == "images" and (path.parent / "labels").is_dir():
        path = path.parent
    name = f"{path.parent.name}_{path.name}" if path.name in ("train", "valid", "val", "test") else path.name
    images_dir = next((path / d for d in VOC_IMAGE_DIRS if (path / d).is_dir()), None)
    if images_dir is not None:
        for d in VOC_LABEL_DIRS:
            if (path / d).is_dir():
                return _voc_set(name, images_dir, path / d, classes)
        if (path / "labels").is_dir():
            known = _known_source(path, sources_yaml) if classes is None else None
            mapping, origin = (known[1], f"{sources_yaml.name} ({known[0]})") if known else (classes, "--classes")
            return _yolo_set(name, images_dir, path / "labels", mapping, origin)
    raise DatasetError("no labelled images here: expected images/ with annotations/ (Pascal VOC XML) "
                       "or labels/ (YOLO txt)", path=path)


def _source_names(sources_yaml: Path) -> list[str]:
    try:
        return list(yaml.safe_load(sources_yaml.read_text())["sources"])
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


# ------------------------------------------------------------------------------------- evaluate


@dataclass
class Evaluation:
    """Metrics of one model on one set, the predictions behind them and the run's settings."""

    model: Path
    detector: str
    data: EvalSet
    metrics: Metrics
    predictions: list[Detections] = field(repr=False)
    settings: dict
    seconds: float
    thresholds: ClassThresholds | None = None  # stored with the model (None: the flat default applies)
    at_thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # per class P/R at those thresholds


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as e:
        raise DatasetError(f"cannot read this image ({e})", path=path) from None


def evaluate(model: Path | str, data: Path | str | EvalSet, *, imgsz: int = 416, conf: float = 0.001,
             iou: float = 0.7, batch: int = 8, backend: str | None = None, device: str = "cpu",
             classes: Mapping[str, str | None] | None = None, sources_yaml: Path | str = DEFAULT_SOURCES,
             on_progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Run `model` over the set and score it. `conf` 0.001 and NMS `iou` 0.7 are ultralytics' val
    settings: AP needs the low-confidence tail; the F1 threshold is then chosen from the scores."""
    from roadscan.detector.backends import batched, load_detector

    evalset = data if isinstance(data, EvalSet) else load_eval_set(data, classes=classes, sources_yaml=sources_yaml)
    if not evalset.instances:
        raise DatasetError("the set holds no ground-truth boxes of roadscan classes: nothing to score",
                           path=Path(str(data)) if not isinstance(data, EvalSet) else None)
    detector = load_detector(model, backend=backend, conf=conf, iou=iou, imgsz=imgsz, batch=batch, device=device)
    started, predictions = time.perf_counter(), []
    for chunk in batched(evalset.images, batch):
        predictions += detector.predict([read_rgb(p) for p in chunk])
        if on_progress:
            on_progress(len(predictions), len(evalset.images))
    seconds = time.perf_counter() - started
    settings = {"imgsz": getattr(detector, "imgsz", imgsz), "conf": conf, "iou": iou, "batch": batch,
                "backend": detector.name.split(":")[0], "device": device}
    shipped = read_thresholds(model)
    operating = shipped or ClassThresholds({})  # what the pipeline keeps: the model's cuts, else the flat default
    return Evaluation(Path(model), detector.name, evalset, score(predictions, evalset.truth), predictions,
                      settings, seconds, shipped, at_thresholds(predictions, evalset.truth, operating,
                                                                groups=evalset.groups))


def calibrate(model: Path | str, data: Path | str | EvalSet, *, write: bool = True,
              **options) -> tuple[Evaluation, ClassThresholds, Path | None]:
    """Derive the F1-optimal threshold per class on `data` (detector/thresholds.py) and store it with `model`.

    Returns the evaluation (at the low confidence AP needs), the thresholds, and the file written.
    """
    ev = evaluate(model, data, **options)
    found = derive(ev.predictions, ev.data.truth, groups=ev.data.groups, data=ev.data.name)
    written = write_thresholds(model, found) if write else None
    if written is not None:
        ev.thresholds, ev.at_thresholds = found, at_thresholds(ev.predictions, ev.data.truth, found,
                                                               groups=ev.data.groups)
    return ev, found, written
