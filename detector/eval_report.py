"""What `roadscan evaluate` leaves behind: metrics.json, a PR plot per class, a sheet of example
frames (ground truth beside predictions, human class names), and the summary table it prints.

Plots use matplotlib's Agg backend (no display on servers, nothing downloaded); predictions on the
example sheet are those above the F1-best confidence threshold, the operating point we would ship.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from roadscan.core.classes import CLASS_CODES, COLOURS, human_name
from roadscan.detector.detections import Detections
from roadscan.detector.evaluation import Evaluation, read_rgb
from roadscan.detector.extras import require_train



def _pyplot():
    require_train("matplotlib", "plotting (evaluation reports, learning curves)")
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def write_report(ev: Evaluation, out_dir: Path | str, *, examples: int = 8) -> dict[str, Path]:
    """Write the report files into `out_dir` (created) and return them by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"metrics": out_dir / "metrics.json"}
    payload = {"model": str(ev.model), "detector": ev.detector, "data": ev.data.name,
               "classes_from": ev.data.classes_from, "instances": ev.data.instances, "settings": ev.settings,
               "seconds": round(ev.seconds, 2), "frames_per_second": round(len(ev.data.images) / ev.seconds, 2)
               if ev.seconds else None, **ev.metrics.to_dict(),
               "operating_point": {"thresholds": json.loads(ev.thresholds.to_json()) if ev.thresholds else None,
                                   "flat_default": None if ev.thresholds else 0.25,
                                   "classes": ev.at_thresholds}}
    files["metrics"].write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    for c in ev.metrics.classes:
        if c.instances:
            files[f"pr_{c.code}"] = _pr_plot(c, ev.metrics.f1.threshold, out_dir / f"pr_{c.code}.png")
    if examples:
        files["examples"] = _example_sheet(ev, out_dir / "examples.png", examples)
    return files


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, np.ndarray)):
        return list(value)
    return str(value)


def _pr_plot(c, threshold: float | None, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    ax.plot(c.curve_recall, c.curve_precision, color=COLOURS.get(c.code, "k"), lw=1.8)
    if threshold is not None and len(c.curve_confidence):
        i = np.flatnonzero(c.curve_confidence >= threshold)
        if i.size:
            ax.plot(c.curve_recall[i[-1]], c.curve_precision[i[-1]], "o", color="k",
                    label=f"F1-best confidence {threshold:.3f}")
            ax.legend(loc="lower left", fontsize=8)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision (envelope)",
           title=f"{c.name} ({c.code}): AP50 {c.ap50:.3f}, {c.instances} boxes")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pick_examples(truth: list[Detections], n: int) -> list[int]:
    """Images to show: per class the one richest in it, then frames spread evenly over the labelled set.

    Spread rather than "most boxes": consecutive frames of a drive look alike, and the busiest
    ones would fill the sheet with one scene.
    """
    counts = np.array([[int((t.code == c).sum()) for c in CLASS_CODES] for t in truth]).reshape(len(truth), -1)
    chosen: list[int] = []
    for k in range(counts.shape[1]):
        if counts[:, k].max() > 0 and len(chosen) < n:
            order = np.lexsort((np.arange(len(truth)), -counts[:, k]))
            chosen.append(next(int(i) for i in order if int(i) not in chosen))
    labelled = [i for i in np.flatnonzero(counts.sum(axis=1)) if int(i) not in chosen]
    spare = max(n - len(chosen), 0)
    if labelled and spare:
        chosen += [int(labelled[j]) for j in np.unique(np.linspace(0, len(labelled) - 1, spare).round().astype(int))]
    return sorted(chosen)


def _draw(ax, image: np.ndarray, dets: Detections, title: str) -> None:
    from matplotlib.patches import Rectangle

    ax.imshow(image)
    labelled = len(dets) <= 12  # beyond that, names pile up: the legend gives the colours
    for (x1, y1, x2, y2), code, conf in zip(dets.xyxy, dets.code, dets.confidence):
        colour = COLOURS.get(code, "w")
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec=colour))
        if labelled:
            label = human_name(code) + (f" {conf:.2f}" if conf < 1 else "")
            ax.text(x1, y1, label, fontsize=6, color="white", va="bottom", bbox=dict(fc=colour, ec="none", pad=1))
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width // 2 - 1] + "..." + name[-(width // 2 - 2):]


def _example_sheet(ev: Evaluation, path: Path, n: int) -> Path:
    from matplotlib.patches import Patch

    plt = _pyplot()
    chosen = pick_examples(ev.data.truth, n)
    threshold = ev.metrics.f1.threshold if ev.metrics.f1.threshold is not None else 1.01
    fig, axes = plt.subplots(len(chosen), 2, figsize=(8, 3.6 * len(chosen) + 0.6), dpi=90, squeeze=False)
    for row, i in zip(axes, chosen):
        image, pred = read_rgb(ev.data.images[i]), ev.predictions[i]
        kept = pred[pred.confidence >= threshold]
        truth = ev.data.truth[i]
        _draw(row[0], image, truth, f"{_short(ev.data.images[i].name)}: ground truth ({len(truth)})")
        _draw(row[1], image, kept, f"predicted, confidence >= {threshold:.3f} ({len(kept)})")
    codes = [c.code for c in ev.metrics.classes if c.code in COLOURS]
    fig.legend(handles=[Patch(ec=COLOURS[c], fc="none", lw=2, label=human_name(c)) for c in codes],
               loc="upper center", ncol=len(codes), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    fig.savefig(path)
    plt.close(fig)
    return path


def summary_table(ev: Evaluation):
    """A rich table: per class AP50, AP50-95, P/R/F1 at the F1-best threshold, and P/R at the cut the
    pipeline applies (the model's stored per-class threshold, else the flat 0.25); then the means."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    m = ev.metrics
    thr = f"{m.f1.threshold:.3f}" if m.f1.threshold is not None else "none"
    table = Table(title=f"{ev.detector} on {ev.data.name}: {len(ev.data.images)} images, {ev.data.instances} boxes",
                  caption=f"AP: {m.ap_method}. Means over classes with ground truth: {', '.join(m.classes_in_mean)}. "
                          f"P/R/F1 at confidence >= {thr} (all classes pooled). cut, P@cut, R@cut: each class at the "
                          + ("threshold stored with the model." if ev.thresholds else "flat 0.25 (the model stores no "
                             "per-class thresholds; roadscan calibrate derives them)."),
                  box=box.SIMPLE_HEAD, padding=(0, 0), show_edge=False, caption_justify="left")
    table.add_column("class")  # the one column that wraps in a narrow terminal
    for col in ("images", "boxes", "preds", "AP50", "AP50-95", "P", "R", "F1", "cut", "P@cut", "R@cut"):
        table.add_column(col, justify="right", no_wrap=True, min_width=max(len(col), 5))
    for c in m.classes:
        ap = (f"{c.ap50:.3f}", f"{c.ap50_95:.3f}") if c.ap50 is not None else ("-", "-")
        op = ev.at_thresholds.get(c.code)
        at = (f"{op['threshold']:.3f}", f"{op['precision']:.3f}", f"{op['recall']:.3f}" if c.instances else "-") \
            if op else ("-", "-", "-")
        table.add_row(f"{c.code} {c.name}", str(c.images), str(c.instances), str(c.predictions), *ap,
                      f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", *at)
    table.add_section()
    n = len(m.classes_in_mean)
    table.add_row(f"mean of {n} class{'es' if n != 1 else ''}", str(len(ev.data.images)), str(ev.data.instances),
                  str(sum(c.predictions for c in m.classes)), f"{m.map50:.3f}", f"{m.map50_95:.3f}",
                  f"{m.f1.precision:.3f}", f"{m.f1.recall:.3f}", Text(f"{m.f1.f1:.3f}", style="bold"), "", "", "")
    return table
