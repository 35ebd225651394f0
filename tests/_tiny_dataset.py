"""A tiny two-source dataset on disk (VOC frames split by id blocks + a YOLO set), for dataset and
training tests: small enough to build and train on in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

VOC_OBJECT = ("<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
              "<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")


def voc_xml(width: int, height: int, objects: list[tuple[str, float, float, float, float]]) -> str:
    body = "".join(VOC_OBJECT.format(name=n, x1=a, y1=b, x2=c, y2=d) for n, a, b, c, d in objects)
    return (f"<annotation><filename>x.jpg</filename><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{body}</annotation>")


def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(90, 140, size=(height, width, 3), dtype=np.uint8)
    pixels[height // 3: height // 2, width // 4: 3 * width // 4] = 20  # a dark "crack" band
    Image.fromarray(pixels).save(path, quality=90)
    return path


def make_sources(root: Path, frames: int = 12, size: int = 64) -> Path:
    """Write `frames` VOC frames (seq) and a YOLO set (pot) under root/data; return sources.yaml.

    seq: frame ids 0..frames-1, validation block [4, 6] with gap 1 (ids 3 and 7 dropped); frame 9
    has no object (background); frame 10 has a `D44` box that the class map drops.
    pot: train a (box), b (polygon line); val c (box).
    """
    data = root / "data"
    for i in range(frames):
        write_image(data / "seq" / "images" / f"frame_{i:03d}.jpg", size, size, seed=i)
        objects = [] if i == 9 else [("D00", 10, size // 3, size - 10, size // 2)]
        if i == 10:
            objects.append(("D44", 1, 1, 5, 5))
        (data / "seq" / "xml").mkdir(parents=True, exist_ok=True)
        (data / "seq" / "xml" / f"frame_{i:03d}.xml").write_text(voc_xml(size, size, objects))
    for split, stem, line in [("train", "a", "0 0.5 0.5 0.5 0.25"),
                              ("train", "b", "0 0.25 0.25 0.75 0.25 0.75 0.5 0.25 0.5"),
                              ("val", "c", "0 0.5 0.5 0.4 0.4")]:
        write_image(data / "pot" / split / "images" / f"{stem}.jpg", size * 2, size, seed=ord(stem))
        (data / "pot" / split / "labels").mkdir(parents=True, exist_ok=True)
        (data / "pot" / split / "labels" / f"{stem}.txt").write_text(line + "\n")
    sources = root / "sources.yaml"
    sources.write_text("""
data_root: data
sources:
  seq:
    format: voc
    images: seq/images
    labels: seq/xml
    classes: {D00: D00, D44: null}
    split: {id_pattern: '(\\d+)$', val_blocks: [[4, 6]], gap: 1}
  pot:
    format: yolo
    classes: {0: D40}
    train: {images: pot/train/images, labels: pot/train/labels}
    val: {images: pot/val/images, labels: pot/val/labels}
""")
    return sources
