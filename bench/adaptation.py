"""How many of a new road network's labelled frames it takes to adapt the detector to it.

Fine-tunes the shipped model (`roadscan train FOLDER`, detector/adaptation.py) on 0, 50, 100 and
all training frames of the DNIT survey (roads DF_070 and DF_080 held out whole), and scores each
result on the held-out roads (the new domain) and on the RDD validation blocks (what it knew
before: the cost of adapting). 0 frames is the shipped model itself, the baseline of the same run.
Writes the curve as CSV and PNG.

    python bench/adaptation.py [--frames 0 50 100 195] [--epochs 10] [--out detector/models/eval]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from roadscan.detector.adaptation import adapt
from roadscan.detector.evaluation import evaluate, load_eval_set
from roadscan.detector.models import shipped_model

REPO = Path(__file__).resolve().parents[1]
DNIT = REPO.parent / "shared" / "data" / "survey_dnit_df"
DAMAGE = ("D00", "D10", "D20", "D40")


def _scores(model: Path, dnit_val, rdd_val) -> dict[str, float]:
    d = {c.code: c.ap50 for c in evaluate(model, dnit_val).metrics.classes}
    r = {c.code: c.ap50 for c in evaluate(model, rdd_val).metrics.classes}
    damage = [r[c] for c in DAMAGE if r.get(c) is not None]
    return {"dnit_pothole_ap50": d.get("D40"), "dnit_crack_ap50": d.get("D20"),
            "rdd_map50_damage": sum(damage) / len(damage)}


def _plot(curve: pd.DataFrame, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for col, label in (("dnit_pothole_ap50", "held-out DNIT roads: pothole AP50"),
                       ("dnit_crack_ap50", "held-out DNIT roads: crack (D20) AP50"),
                       ("rdd_map50_damage", "RDD blocks: mAP50, 4 damage classes (what it knew)")):
        ax.plot(curve["frames"], curve[col], marker="o", label=label)
    ax.set_xlabel("frames of the new road network used to adapt")
    ax.set_ylabel("AP50")
    ax.set_ylim(0, max(0.7, float(curve[["dnit_pothole_ap50", "rdd_map50_damage"]].max().max()) + 0.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Adapting the shipped model to a new road network")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 50, 100, 195])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--out", type=Path, default=Path("runs/adaptation"))
    parser.add_argument("--work", type=Path, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--replay", type=Path, help="a dataset build without DNIT whose training images are mixed in "
                        "(roadscan train --replay); the curve is then written as adaptation_curve_replay.*")
    parser.add_argument("--replay-frames", type=int, default=200)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="roadscan-adapt-"))
    classes = {"0": "D20", "1": "D40"}
    dnit_val = load_eval_set(REPO / "build" / "dataset" / "data_dnit_val.yaml")
    rdd_val = load_eval_set(REPO / "build" / "dataset" / "data_rdd_val.yaml")
    rows = []
    for n in args.frames:
        started = time.perf_counter()
        if n == 0:
            model = shipped_model("onnx")
        else:
            out = adapt(DNIT, f"dnit_{n}" + ("_replay" if args.replay else ""), model=shipped_model("pt"), classes=classes, val_groups=["DF_070", "DF_080"],
                        group_pattern=r"_(DF_\d+)_", frames=n, epochs=args.epochs, imgsz=args.imgsz, project=work,
                        replay=args.replay, replay_frames=args.replay_frames)
            model = out.onnx
        row = {"frames": n, **_scores(model, dnit_val, rdd_val), "minutes": (time.perf_counter() - started) / 60}
        rows.append(row)
        print("  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    curve = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "adaptation_curve" + ("_replay" if args.replay else "")
    curve.to_csv(args.out / f"{stem}.csv", index=False)
    _plot(curve, args.out / f"{stem}.png")
    base = curve.iloc[0]
    print(curve.to_string(index=False, float_format="{:.3f}".format))
    for _, row in curve.iloc[1:].iterrows():
        print(f"{int(row['frames'])} frames: DNIT pothole AP50 x{row['dnit_pothole_ap50'] / max(base['dnit_pothole_ap50'], 1e-9):.2f} "
              f"vs the shipped model, RDD damage mAP50 {row['rdd_map50_damage'] - base['rdd_map50_damage']:+.3f}")
    print(f"written: {args.out / stem}.csv, .png")


if __name__ == "__main__":
    main()
