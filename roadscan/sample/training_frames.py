"""Labelled frames of synthetic drives, in YOLO format, for training and scoring the detector.

The shipped model must find the defects painted into the demo drive, which look unlike any real
photograph; a share of rendered frames in training teaches it that look. Frames are rendered
straight from the planned poses (no video round trip) and saved as JPEG, like camera footage.
Drives with different seeds give different streets and defects, so training and validation seeds
never share a defect. Output layout (what `datasets/sources.yaml` reads as a YOLO source):

    OUT/train/images/syn_SEED_FRAME.jpg   OUT/train/labels/syn_SEED_FRAME.txt
    OUT/val/images/...                    OUT/val/labels/...

Usage: `python -m roadscan.sample.training_frames OUT [--train-seeds 101-112] [--val-seeds 201-203]`
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from roadscan.core.classes import CLASS_CODES
from roadscan.geo.camera_profiles import load_profile
from roadscan.sample import world
from roadscan.sample.drive import CAMERA, plan_drive
from roadscan.sample.render import FrameRenderer

MAX_LABEL_RANGE_M = 25.0  # further defects are a few pixels tall: unlabelled, and out of the pipeline's range
MIN_BOX_PX = (8.0, 4.0)  # width, height: smaller boxes are dropped from the labels
MIN_VISIBLE = 0.5  # share of the footprint inside the view for a box to count
BACKGROUND_SHARE = 0.1  # frames without a labelled defect, so the model also learns clean road


def frame_labels(boxes: pd.DataFrame, width: int, height: int) -> pd.DataFrame:
    """YOLO label rows (frame, cls, cx, cy, w, h normalised) for the boxes worth learning from."""
    w, h = boxes.x2 - boxes.x1, boxes.y2 - boxes.y1
    good = ((boxes.forward_m <= MAX_LABEL_RANGE_M) & (w >= MIN_BOX_PX[0]) & (h >= MIN_BOX_PX[1])
            & (boxes.visible >= MIN_VISIBLE))
    b = boxes[good]
    return pd.DataFrame({"frame": b.frame.to_numpy(),
                         "cls": b.code.map({c: i for i, c in enumerate(CLASS_CODES)}).to_numpy(),
                         "cx": ((b.x1 + b.x2) / 2 / width).to_numpy(), "cy": ((b.y1 + b.y2) / 2 / height).to_numpy(),
                         "w": ((b.x2 - b.x1) / width).to_numpy(), "h": ((b.y2 - b.y1) / height).to_numpy()})


def write_seed(out: Path, seed: int, *, length_m: float = 400.0, every: int = 3) -> int:
    """Render every `every`-th labelled frame of one drive (plus some background); returns the count."""
    plan = plan_drive(length_m=length_m, seed=seed)
    camera = load_profile(CAMERA)
    labels = frame_labels(plan.boxes, camera.width, camera.height)
    moving = plan.poses[plan.poses.speed_mps > 0.5].frame.to_numpy()
    with_defects = np.intersect1d(np.unique(labels.frame), moving)[::every]
    rng = np.random.default_rng(seed)
    empty = np.setdiff1d(moving, labels.frame)
    n_bg = min(len(empty), int(round(len(with_defects) * BACKGROUND_SHARE / (1 - BACKGROUND_SHARE))))
    chosen = np.sort(np.concatenate([with_defects, rng.choice(empty, n_bg, replace=False)]))
    renderer = FrameRenderer(camera, world.Corridor(plan.route), world.Surface(seed), plan.defects)
    poses = plan.poses.set_index("frame")
    by_frame = {f: g for f, g in labels.groupby("frame")}
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for frame in chosen:
        p = poses.loc[frame]
        stem = f"syn_{seed}_{frame:05d}"
        Image.fromarray(renderer.render(p.x, p.y, p.heading)).save(out / "images" / f"{stem}.jpg", quality=88)
        rows = by_frame.get(frame)
        text = "" if rows is None else "".join(f"{int(r.cls)} {r.cx:.6f} {r.cy:.6f} {r.w:.6f} {r.h:.6f}\n"
                                               for r in rows.itertuples())
        (out / "labels" / f"{stem}.txt").write_text(text)
    return len(chosen)


def write_frames(out: Path, train_seeds: list[int], val_seeds: list[int], *, length_m: float = 400.0,
                 every: int = 3) -> dict[str, int]:
    """Both splits into `out`, and an info.json of what made them; returns frames per split."""
    counts = {split: sum(write_seed(out / split, s, length_m=length_m, every=every) for s in seeds)
              for split, seeds in (("train", train_seeds), ("val", val_seeds))}
    (out / "info.json").write_text(json.dumps({"seeds": {"train": train_seeds, "val": val_seeds},
                                               "length_m": length_m, "every": every, "frames": counts}, indent=2))
    return counts


def ensure_generated_sources(sources_yaml: Path) -> dict[str, dict[str, int]]:
    """Generate every source of a dataset definition that has `generate:` and whose folder is missing."""
    import yaml

    spec = yaml.safe_load(Path(sources_yaml).read_text()) or {}
    made = {}
    for name, src in (spec.get("sources") or {}).items():
        gen = src.get("generate") if isinstance(src, dict) else None
        if not gen or "root" not in src:
            continue
        root = (Path(sources_yaml).parent / src["root"]).resolve()
        if not (root / "info.json").is_file():
            made[name] = write_frames(root, _seeds(str(gen["train_seeds"])), _seeds(str(gen["val_seeds"])),
                                      length_m=float(gen.get("length_m", 400.0)), every=int(gen.get("every", 3)))
    return made


def _seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m roadscan.sample.training_frames", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train-seeds", default="101-112", help="seed range, e.g. 101-112")
    parser.add_argument("--val-seeds", default="201-203")
    parser.add_argument("--length", type=float, default=400.0, help="metres per drive")
    parser.add_argument("--every", type=int, default=3, help="keep every n-th frame that shows a defect")
    args = parser.parse_args(argv)
    counts = write_frames(args.out, _seeds(args.train_seeds), _seeds(args.val_seeds), length_m=args.length,
                          every=args.every)
    print(f"synthetic frames in {args.out}: {counts}")


if __name__ == "__main__":
    main()
