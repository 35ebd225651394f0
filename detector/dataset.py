"""Training data for the detector: annotation readers, the ultralytics build folder, and its counts.

The source folders (`../shared/data`, or a user's own) are never modified or copied into the repo:
`build_dataset` writes a separate folder of image symlinks and YOLO label files that ultralytics
trains on, with one validation set per source so that each can be scored on its own.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from roadscan.core.classes import CLASS_CODES
from roadscan.core.errors import DatasetError

BOX_COLUMNS = ["image", "code", "x1", "y1", "x2", "y2", "width", "height"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MANIFEST = "manifest.csv"
DEFAULT_SOURCES = Path(__file__).resolve().parents[1] / "datasets" / "sources.yaml"


# --------------------------------------------------------------------------------------- readers


def _files(paths: Path | str | Iterable[Path | str], suffixes: set[str]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        root = Path(paths)
        if root.is_dir():
            return sorted(p for p in root.iterdir() if p.suffix.lower() in suffixes)
        paths = [root]
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise DatasetError("no such file or folder", path=p)
    return files


def _boxes_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=BOX_COLUMNS)
    return frame.astype({c: float for c in BOX_COLUMNS[2:]}).astype({"image": str, "code": str})


def read_voc(paths: Path | str | Iterable[Path | str]) -> pd.DataFrame:
    """Boxes of Pascal VOC XML files (a folder or a list), in pixels, one row per object.

    `image` is the XML file's stem (RDD2022's `<filename>` is not always trustworthy across
    countries); `code` is the raw `<name>`, mapped to roadscan classes by the caller.
    """
    rows: list[tuple] = []
    for path in _files(paths, {".xml"}):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise DatasetError(f"malformed Pascal VOC XML ({exc})", path=path,
                               hint="fix or remove the file; it must be a VOC <annotation>") from None
        try:
            width = float(root.findtext("size/width"))
            height = float(root.findtext("size/height"))
            for obj in root.iter("object"):
                box = obj.find("bndbox")
                rows.append((path.stem, obj.findtext("name").strip(),
                             *(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")),
                             width, height))
        except (TypeError, ValueError, AttributeError):
            raise DatasetError("Pascal VOC XML lacks a numeric <size> or an object's <name>/<bndbox>",
                               path=path, hint="each <object> needs <name> and <bndbox> "
                               "xmin/ymin/xmax/ymax; <size> needs width and height") from None
        if width <= 0 or height <= 0:
            raise DatasetError(f"image size {width:g}x{height:g} in <size> is not positive", path=path)
    return _boxes_frame(rows)


def _yolo_line_box(tokens: list[str], path: Path, lineno: int) -> tuple[str, np.ndarray]:
    """Class token and normalised (x1, y1, x2, y2) of one label line; polygons become their bbox."""
    n = len(tokens)
    if n != 5 and (n < 7 or n % 2 == 0):
        raise DatasetError(f"line {lineno} has {n} fields; expected 5 (class cx cy w h) or a polygon "
                           "(class x1 y1 x2 y2 x3 y3 ...)", path=path)
    try:
        values = np.asarray(tokens[1:], dtype=float)
    except ValueError:
        raise DatasetError(f"line {lineno} holds a non-numeric coordinate", path=path) from None
    if n == 5:
        cx, cy, w, h = values
        return tokens[0], np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    xy = values.reshape(-1, 2)
    return tokens[0], np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def read_yolo(labels: Path | str | Iterable[Path | str], images: Path | str,
              classes: Mapping[int, str | None]) -> pd.DataFrame:
    """Boxes of YOLO label files (a folder or a list), in pixels, one row per object.

    `classes` maps the file's class ids to codes; an id it lacks is an error (the label file and
    sources.yaml disagree). Image sizes come from the image headers in `images`, matched by stem.
    Segment (polygon) lines, as Roboflow exports mix them in, become their bounding box.
    """
    sizes = {p.stem: p for p in _files(images, IMAGE_SUFFIXES)}
    rows: list[tuple] = []
    for path in _files(labels, {".txt"}):
        if path.stem not in sizes:
            raise DatasetError(f"no image named {path.stem}.* in {images}", path=path)
        boxes = []
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            tokens = line.split()
            if not tokens:
                continue
            cls, box = _yolo_line_box(tokens, path, lineno)
            if not re.fullmatch(r"\d+", cls) or int(cls) not in classes:
                raise DatasetError(f"line {lineno}: class id {cls} is out of range; the dataset "
                                   f"definition maps ids {sorted(classes)}", path=path)
            boxes.append((classes[int(cls)], box))
        if boxes:
            with Image.open(sizes[path.stem]) as im:  # header only: no pixel decode
                width, height = im.size
            scale = np.array([width, height, width, height], dtype=float)
            rows += [(path.stem, code, *(box * scale), width, height) for code, box in boxes]
    return _boxes_frame(rows)


# ---------------------------------------------------------------------------------------- splits


def split_by_id_blocks(ids: np.ndarray, val_blocks: Iterable[Iterable[int]], gap: int = 0) -> np.ndarray:
    """'train', 'val' or 'drop' per frame id: held-out contiguous id blocks for sequential footage.

    Random splits put near-identical neighbouring frames on both sides and inflate validation
    scores; `gap` ids either side of a block belong to neither split for the same reason.
    """
    ids = np.asarray(ids)
    blocks = np.asarray(list(val_blocks), dtype=int).reshape(-1, 2)
    lo, hi = blocks[:, 0][:, None], blocks[:, 1][:, None]
    in_block = ((ids >= lo) & (ids <= hi)).any(axis=0)
    near = ((ids >= lo - gap) & (ids <= hi + gap)).any(axis=0)
    return np.where(in_block, "val", np.where(near, "drop", "train"))


def split_by_groups(groups: pd.Series, val_groups: Iterable[str]) -> np.ndarray:
    """'train' or 'val' per frame by the group it belongs to (e.g. the road a survey frame is on).

    Frames of one road are consecutive captures of the same pavement: holding out whole roads is
    the only split that scores the model on a road network it has not seen.
    """
    return np.where(groups.isin(set(val_groups)).to_numpy(), "val", "train")


def split_by_tail(stems: pd.Series, val_fraction: float) -> np.ndarray:
    """'train' or 'val' per frame: the last `val_fraction` of the frames in name order held out.

    For a folder with no road or id structure to split by: frames named in capture order are
    consecutive, so a contiguous tail is far less leaky than a random pick.
    """
    order = stems.rank(method="first").to_numpy() - 1
    n_val = int(round(len(stems) * val_fraction))
    return np.where(order >= len(stems) - n_val, "val", "train")


# --------------------------------------------------------------------------------------- builder


@dataclass
class BuildResult:
    """What `build_dataset` wrote: the folder, its dataset YAMLs and per-split counts."""

    out_dir: Path
    data_yaml: Path
    val_yamls: dict[str, Path]
    images: int
    dropped_images: int
    dropped_boxes: int
    stats: pd.DataFrame = field(repr=False)


def _load_sources(sources_yaml: Path, data_root: Path | None) -> tuple[Path, dict]:
    try:
        spec = yaml.safe_load(sources_yaml.read_text())
    except FileNotFoundError:
        raise DatasetError("dataset definition not found", path=sources_yaml) from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"dataset definition is not valid YAML ({exc})", path=sources_yaml) from None
    if not isinstance(spec, dict) or not isinstance(spec.get("sources"), dict) or not spec["sources"]:
        raise DatasetError("dataset definition needs a `sources:` mapping", path=sources_yaml,
                           hint="see datasets/README.md for the format")
    root = Path(data_root) if data_root else (sources_yaml.parent / spec.get("data_root", ".")).resolve()
    if not root.is_dir():
        raise DatasetError(f"data folder {root} does not exist", path=sources_yaml,
                           hint="set data_root in the file or pass data_root=")
    return root, spec["sources"]


def _read_part(fmt: str, images: Path, labels: Path, classes: dict, where: Path) -> pd.DataFrame:
    for folder in (images, labels):
        if not folder.is_dir():
            raise DatasetError(f"folder {folder} does not exist", path=where)
    if fmt == "voc":
        return read_voc(labels)
    if fmt == "yolo":
        return read_yolo(labels, images, {int(k): v for k, v in classes.items()})
    raise DatasetError(f"unknown annotation format {fmt!r}; use voc or yolo", path=where)


def _source_frames(name: str, src: dict, root: Path, where: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(images with their split, boxes with roadscan codes) of one source."""
    fmt, classes = src.get("format"), src.get("classes") or {}
    if "split" in src:
        parts = [(None, src)]
    elif "train" in src:  # its own split; a source without `val:` only adds training images
        parts = [("train", src["train"])] + ([("val", src["val"])] if "val" in src else [])
    else:
        raise DatasetError(f"source {name!r} needs images/labels with a `split:`, or `train:` (and `val:`)",
                           path=where)
    if "root" in src:  # a source kept outside data_root, e.g. generated frames in build/
        root = (where.parent / src["root"]).resolve()
        if not root.is_dir():
            raise DatasetError(f"source {name!r}: folder {root} does not exist", path=where,
                               hint=src.get("make", "create it or remove the source"))
    image_rows, box_frames = [], []
    for split, part in parts:
        try:
            images, labels = root / part["images"], root / part["labels"]
        except KeyError:
            raise DatasetError(f"source {name!r} lacks `images:` or `labels:`", path=where) from None
        boxes = _read_part(fmt, images, labels, classes, where)
        files = _files(images, IMAGE_SUFFIXES)
        frame = pd.DataFrame({"file": files, "stem": [p.stem for p in files]})
        if split is None:
            rule = src["split"]
            if isinstance(rule, dict) and rule.get("val_groups"):
                groups = frame["stem"].str.extract(rule.get("group_pattern", r"^([^_]+)"), expand=False)
                if groups.isna().any():
                    raise DatasetError(f"source {name!r}: no group in {frame['stem'][groups.isna()].iloc[0]}",
                                       path=where, hint="adjust split.group_pattern")
                missing = set(rule["val_groups"]) - set(groups)
                if missing:
                    raise DatasetError(f"source {name!r}: validation groups {sorted(missing)} have no frames",
                                       path=where, hint="check split.val_groups against the file names")
                frame["split"] = split_by_groups(groups, rule["val_groups"])
            elif isinstance(rule, dict) and rule.get("val_blocks"):
                ids = frame["stem"].str.extract(rule.get("id_pattern", r"(\d+)$"), expand=False)
                if ids.isna().any():
                    raise DatasetError(f"source {name!r}: no frame id in {frame['stem'][ids.isna()].iloc[0]}",
                                       path=where, hint="adjust split.id_pattern")
                frame["split"] = split_by_id_blocks(ids.astype(int).to_numpy(), rule["val_blocks"],
                                                    int(rule.get("gap", 0)))
            elif isinstance(rule, dict) and "val_fraction" in rule:
                fraction = rule["val_fraction"]
                if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
                    raise DatasetError(f"source {name!r}: `val_fraction` must lie between 0 and 1, not {fraction!r}",
                                       path=where)
                frame["split"] = split_by_tail(frame["stem"], fraction)
            else:
                raise DatasetError(f"source {name!r}: `split:` needs `val_blocks: [[first, last], ...]`, "
                                   "`val_groups: [...]` or `val_fraction: F`", path=where)
        else:
            frame["split"] = split
        orphans = set(boxes["image"]) - set(frame["stem"])
        if orphans:
            raise DatasetError(f"source {name!r}: labels without an image, e.g. {sorted(orphans)[0]}",
                               path=labels)
        image_rows.append(frame)
        box_frames.append(boxes)
    frames = pd.concat(image_rows, ignore_index=True).assign(source=name)
    boxes = pd.concat(box_frames, ignore_index=True)
    if fmt == "voc":  # VOC carries names, YOLO ids were mapped by read_yolo
        unknown = set(boxes["code"]) - set(classes)
        if unknown:
            raise DatasetError(f"source {name!r} has classes {sorted(unknown)} that `classes:` does not "
                               "map", path=where, hint="map them to a roadscan code, or to null to drop")
        boxes["code"] = boxes["code"].map(classes)
    bad = set(boxes["code"].dropna()) - set(CLASS_CODES)
    if bad:
        raise DatasetError(f"source {name!r} maps to {sorted(bad)}, not roadscan codes {CLASS_CODES}",
                           path=where)
    return frames, boxes.dropna(subset=["code"])


def _limit_training_images(images: pd.DataFrame, name: str, limit, where: Path) -> pd.DataFrame:
    """Keep `train_frames: N` of a source's training images: the first N of a fixed shuffle, so a
    smaller subset is always part of a larger one (curves of accuracy against frames used)."""
    if limit is None:
        return images
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise DatasetError(f"source {name!r}: `train_frames:` must be a whole number >= 0, not {limit!r}", path=where)
    train = images.index[(images["source"] == name) & (images["split"] == "train")]
    ranked = train[np.random.default_rng(0).permutation(len(train))]
    return images.drop(index=ranked[limit:])


def _training_mix(images: pd.DataFrame, sources: dict, where: Path) -> pd.DataFrame:
    """Each source's share of the training images: `train_frames: N` keeps N of them, `repeat: N`
    oversamples them N times (validation images are never touched).

    Repeats are copies under their own names rather than a repeated list file, because ultralytics keys its
    label cache by image path and would fold repeated entries back into one.
    """
    extra = []
    for name, src in sources.items():
        images = _limit_training_images(images, name, src.get("train_frames"), where)
        repeat = src.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise DatasetError(f"source {name!r}: `repeat:` must be a whole number >= 1, not {repeat!r}", path=where)
        train = images[(images["source"] == name) & (images["split"] == "train")]
        extra += [train.assign(key=train["key"] + f"_r{i}") for i in range(1, repeat)]
    return pd.concat([images, *extra], ignore_index=True) if extra else images


def _yolo_lines(boxes: pd.DataFrame) -> tuple[pd.Series, int]:
    """Label lines per image key (normalised, clipped to the image) and how many boxes were dropped.

    Boxes with no area inside the image are dropped rather than failing the build: a few
    Roboflow labels lie far outside their image (x = 5.5), and ultralytics would otherwise
    discard the whole image as corrupt.
    """
    w, h = boxes["width"], boxes["height"]
    x1, x2 = boxes["x1"].clip(0, w) / w, boxes["x2"].clip(0, w) / w
    y1, y2 = boxes["y1"].clip(0, h) / h, boxes["y2"].clip(0, h) / h
    keep = ((x2 - x1) > 0) & ((y2 - y1) > 0)
    cls = boxes["code"].map({c: i for i, c in enumerate(CLASS_CODES)})
    text = (cls.astype(str) + " " + ((x1 + x2) / 2).map("{:.6f}".format) + " "
            + ((y1 + y2) / 2).map("{:.6f}".format) + " " + (x2 - x1).map("{:.6f}".format) + " "
            + (y2 - y1).map("{:.6f}".format))[keep]
    return text.groupby(boxes["key"][keep]).agg("\n".join), int((~keep).sum())


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST).is_file():
            raise DatasetError("folder is not empty and is not a roadscan dataset build", path=out_dir,
                               hint="choose an empty or new folder")
        for child in out_dir.iterdir():  # only what a previous build wrote
            if child.name in ("images", "labels"):
                shutil.rmtree(child)
            elif child.name == MANIFEST or child.suffix == ".yaml":
                child.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _place_image(src: Path, dst: Path, imgsz_cap: int | None) -> None:
    if imgsz_cap is None:
        dst.symlink_to(src.resolve())
        return
    with Image.open(src) as im:
        if max(im.size) <= imgsz_cap and src.suffix.lower() in (".jpg", ".jpeg"):
            shutil.copyfile(src, dst)
            return
        im = im.convert("RGB")
        im.thumbnail((imgsz_cap, imgsz_cap), Image.Resampling.LANCZOS)
        im.save(dst.with_suffix(".jpg"), quality=90)


def _write_yaml(path: Path, out_dir: Path, val: list[str]) -> Path:
    data = {"path": str(out_dir), "train": "images/train", "val": val if len(val) > 1 else val[0],
            "names": dict(enumerate(CLASS_CODES))}
    path.write_text("# written by roadscan.detector.dataset.build_dataset\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path


def build_dataset(sources_yaml: Path | str = DEFAULT_SOURCES, out_dir: Path | str = "build/dataset", *,
                  imgsz_cap: int | None = None, data_root: Path | str | None = None) -> BuildResult:
    """Write an ultralytics dataset folder from the sources in `sources_yaml`.

    Images are symlinks to the read-only sources; with `imgsz_cap` they are re-encoded copies no
    larger than that (a compact, self-contained pack to carry to a GPU machine). Besides
    `data.yaml` (all validation sets) it writes `data_<source>_val.yaml` per source, because a
    single pooled mAP hides that the pothole-only set says nothing about cracks.
    """
    sources_yaml, out_dir = Path(sources_yaml), Path(out_dir).resolve()
    root, sources = _load_sources(sources_yaml, data_root)
    frames, boxes = [], []
    for name, src in sources.items():
        f, b = _source_frames(name, src, root, sources_yaml)
        frames.append(f)
        boxes.append(b.assign(key=name + "_" + b["image"]))
    images = pd.concat(frames, ignore_index=True)
    images["key"] = images["source"] + "_" + images["stem"]
    images["label_key"] = images["key"]
    images = _training_mix(images, sources, sources_yaml)
    images["folder"] = np.where(images["split"] == "train", "train", "val_" + images["source"])
    dropped_images = int((images["split"] == "drop").sum())
    images = images[images["split"] != "drop"]
    lines, dropped_boxes = _yolo_lines(pd.concat(boxes, ignore_index=True))

    _prepare_out_dir(out_dir)
    for folder in images["folder"].unique():
        (out_dir / "images" / folder).mkdir(parents=True)
        (out_dir / "labels" / folder).mkdir(parents=True)
    rel = []
    for file, key, label_key, folder in zip(images["file"], images["key"], images["label_key"], images["folder"]):
        suffix = ".jpg" if imgsz_cap else file.suffix
        _place_image(file, out_dir / "images" / folder / f"{key}{suffix}", imgsz_cap)
        text = lines.get(label_key)  # images without boxes get an empty file: background, not missing
        (out_dir / "labels" / folder / f"{key}.txt").write_text(f"{text}\n" if text else "")
        rel.append(f"images/{folder}/{key}{suffix}")
    manifest = pd.DataFrame({"image": rel, "source": images["source"].to_numpy(),
                             "split": images["split"].to_numpy(),
                             "origin": images["file"].astype(str).to_numpy()})
    manifest.to_csv(out_dir / MANIFEST, index=False)

    val_folders = [f for f in images["folder"].unique() if f != "train"]
    if "train" not in set(images["folder"]) or not val_folders:
        raise DatasetError("the definition yields no training or no validation images", path=sources_yaml)
    data_yaml = _write_yaml(out_dir / "data.yaml", out_dir, [f"images/{f}" for f in val_folders])
    val_yamls = {f.removeprefix("val_"): _write_yaml(out_dir / f"data_{f.removeprefix('val_')}_val.yaml",
                                                      out_dir, [f"images/{f}"]) for f in val_folders}
    return BuildResult(out_dir, data_yaml, val_yamls, len(images), dropped_images, dropped_boxes,
                       dataset_stats(out_dir))


# ----------------------------------------------------------------------------------------- stats


def dataset_stats(out_dir: Path | str) -> pd.DataFrame:
    """Images and instances per split, source and class of a build folder.

    One row per (split, source, code): `images` holding that class and its `instances`; the row
    with code 'all' counts every image, background ones included.
    """
    out_dir = Path(out_dir)
    try:
        manifest = pd.read_csv(out_dir / MANIFEST)
    except FileNotFoundError:
        raise DatasetError("not a dataset build folder (no manifest.csv)", path=out_dir,
                           hint="run `roadscan dataset build` first") from None
    label_files = [out_dir / Path(p).with_suffix(".txt").as_posix().replace("images/", "labels/", 1)
                   for p in manifest["image"]]
    ids = [[int(line.split(maxsplit=1)[0]) for line in f.read_text().splitlines() if line.strip()]
           for f in label_files]
    boxes = manifest[["image", "split", "source"]].assign(cls=ids).explode("cls").dropna(subset=["cls"])
    boxes["code"] = pd.Categorical.from_codes(boxes["cls"].astype(int), categories=CLASS_CODES)
    per_class = (boxes.groupby(["split", "source", "code"], observed=False)
                 .agg(images=("image", "nunique"), instances=("image", "size")).reset_index())
    per_class = per_class.merge(manifest[["split", "source"]].drop_duplicates())
    totals = (manifest.groupby(["split", "source"]).size().rename("images").reset_index()
              .merge(boxes.groupby(["split", "source"]).size().rename("instances").reset_index(),
                     how="left").fillna({"instances": 0}).assign(code="all"))
    stats = pd.concat([per_class.astype({"code": str}), totals], ignore_index=True)
    order = {c: i for i, c in enumerate([*CLASS_CODES, "all"])}
    stats = stats.sort_values(["split", "source", "code"], key=lambda s: s.map(order) if s.name == "code"
                              else s, ignore_index=True)
    return stats[["split", "source", "code", "images", "instances"]].astype({"images": int, "instances": int})


def stats_table(stats: pd.DataFrame):
    """A rich table of `dataset_stats`: one row per split and source, `instances (images)` per class."""
    from rich.table import Table

    table = Table(title="dataset", show_lines=False)
    codes = [c for c in [*CLASS_CODES, "all"] if c in set(stats["code"])]
    for col in ("split", "source", *codes):
        table.add_column(col, justify="left" if col in ("split", "source") else "right")
    for (split, source), group in stats.groupby(["split", "source"], sort=False):
        cells = group.set_index("code")
        table.add_row(split, source, *(f"{cells.at[c, 'instances']} ({cells.at[c, 'images']})"
                                       if c in cells.index else "0" for c in codes))
    return table
