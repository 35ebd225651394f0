"""Detector commands of `roadscan`: dataset building, training, evaluation, export.

Kept apart from roadscan/cli.py so that the survey commands and the model commands each have one
place; `register(app)` adds them to the main command. Like the rest of the command, these only
parse options and print: the work is in roadscan.detector (dataset, training, evaluation, export).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from roadscan.cli_help import Command, Group, hidden_alias
from roadscan.console import console, err_console, show, styled
from roadscan.core.errors import ConfigError

dataset_app = typer.Typer(help="Build and inspect the detector's training data.", no_args_is_help=True, cls=Group)

SourcesOption = Annotated[Optional[Path], typer.Option("--sources", help="Dataset definition (default: datasets/sources.yaml).")]


@dataset_app.command("build", cls=Command)
def dataset_build(
    sources: SourcesOption = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write (images as symlinks, YOLO labels, data YAMLs).")] = Path("build/dataset"),
    imgsz_cap: Annotated[Optional[int], typer.Option("--imgsz-cap", help="Copy images re-encoded to at most N px instead of linking them (a self-contained pack).")] = None,
) -> None:
    """Write an ultralytics dataset folder from the sources in the dataset definition."""
    from roadscan.detector.dataset import DEFAULT_SOURCES, build_dataset, stats_table
    from roadscan.sample.training_frames import ensure_generated_sources

    with err_console.status("rendering synthetic training frames (once)"):
        made = ensure_generated_sources(sources or DEFAULT_SOURCES)
    for name, counts in made.items():
        console.print(f"generated source {name}: {counts}")
    result = build_dataset(sources or DEFAULT_SOURCES, out, imgsz_cap=imgsz_cap)
    show(stats_table(result.stats))
    console.print(styled(("Dataset written", "bold green"), f": {result.out_dir} ({result.images} images)"))
    console.print(f"  train on: {result.data_yaml}")
    for name, path in result.val_yamls.items():
        console.print(f"  score {name} alone: {path}")
    if result.dropped_images or result.dropped_boxes:
        console.print(f"  left out: {result.dropped_images} frames in the gaps beside validation blocks, "
                      f"{result.dropped_boxes} boxes with no area inside their image")


@dataset_app.command("stats", cls=Command)
def dataset_stats_cmd(
    folder: Annotated[Path, typer.Argument(help="A folder written by `roadscan dataset build`.")] = Path("build/dataset"),
) -> None:
    """Images and boxes per split, source and class of a built dataset."""
    from roadscan.detector.dataset import dataset_stats, stats_table

    show(stats_table(dataset_stats(folder)))


def _epoch_line(trainer) -> str:
    """One line per finished epoch: losses, validation scores and time."""
    losses = trainer.label_loss_items(trainer.tloss) if trainer.tloss else {}
    m = trainer.metrics or {}
    parts = [f"epoch {trainer.epoch + 1}/{trainer.epochs}"]
    parts += [f"{k.split('/')[-1].removesuffix('_loss')} {v:.3f}" for k, v in losses.items()]
    for label, key in (("P", "metrics/precision(B)"), ("R", "metrics/recall(B)"), ("mAP50", "metrics/mAP50(B)"),
                       ("mAP50-95", "metrics/mAP50-95(B)")):
        if key in m:
            parts.append(f"{label} {float(m[key]):.3f}")
    if trainer.epoch_time:
        parts.append(f"{trainer.epoch_time / 60:.1f} min")
    return "  ".join(parts)


def train_cmd(
    data: Annotated[Path, typer.Argument(help="data.yaml written by `roadscan dataset build`, or a folder of your own labelled frames (images/ + labels/, YOLO format) to adapt the shipped model to.")],
    name: Annotated[str, typer.Option("--name", help="Run name: the run is written to PROJECT/NAME.")],
    model: Annotated[Optional[str], typer.Option("--model", help="Weights (.pt) to fine-tune from, as --model means in every command (default for a folder of frames: the shipped model).")] = None,
    arch: Annotated[Optional[str], typer.Option("--arch", help="Architecture YAML to train from scratch instead (default yolo11n.yaml).")] = None,
    weights: Annotated[Optional[str], hidden_alias("--from", "--model")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (with --hours: re-derived from the measured epoch time); default 25, or 10 to adapt to a folder.")] = None,
    imgsz: Annotated[int, typer.Option(help="Training image size in pixels.")] = 416,
    batch: Annotated[int, typer.Option(help="Images per training batch.")] = 16,
    hours: Annotated[Optional[float], typer.Option(help="Wall-time budget; the schedule is fitted into it.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue PROJECT/NAME from its weights/last.pt.")] = False,
    device: Annotated[str, typer.Option(help="cpu, or cuda / 0 for an NVIDIA GPU.")] = "cpu",
    project: Annotated[Path, typer.Option(help="Folder of training runs.")] = Path("runs/train"),
    threads: Annotated[int, typer.Option(help="Torch CPU threads (0: ultralytics' choice).")] = 2,
    classes: Annotated[Optional[str], typer.Option(help="Folder of frames: its class ids as roadscan codes, e.g. 0=D20,1=D40 (none drops a class).")] = None,
    val_groups: Annotated[Optional[str], typer.Option("--val-groups", help="Folder of frames: roads (groups) held out for validation, e.g. DF_070,DF_080.")] = None,
    group_pattern: Annotated[Optional[str], typer.Option("--group-pattern", help="Folder of frames: regex whose first group is a frame's road in its file name.")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Folder of frames without --val-groups: the last share of frames (name order) held out.")] = 0.2,
    frames: Annotated[Optional[int], typer.Option("--frames", help="Folder of frames: train on only N of its training frames.")] = None,
    replay: Annotated[Optional[Path], typer.Option("--replay", help="Folder of frames: a dataset build (e.g. build/dataset) whose training images are mixed in, so the model keeps the classes your labels do not name.")] = None,
    replay_frames: Annotated[int, typer.Option("--replay-frames", help="How many images --replay mixes in.")] = 200,
) -> None:
    """Train (or resume) the detector, offline, or adapt it to a folder of your own labelled frames."""
    from roadscan.detector.adaptation import is_frames_folder

    progress = {"on_fit_epoch_end": lambda trainer: err_console.print(_epoch_line(trainer), highlight=False)}
    if is_frames_folder(data) and not resume:
        result = _adapt(data, name, _training_start(model, arch, weights, default=None), classes=classes,
                        val_groups=val_groups, group_pattern=group_pattern, val_fraction=val_fraction, frames=frames,
                        replay=replay, replay_frames=replay_frames, epochs=epochs, imgsz=imgsz, batch=batch, device=device, project=project,
                        threads=threads or None, callbacks=progress)
    else:
        from roadscan.detector.training import train

        start = _training_start(model, arch, weights)
        result = train(data, model=start, epochs=epochs or 25, imgsz=imgsz, batch=batch, hours=hours, resume=resume,
                       device=device, project=project, name=name, threads=threads or None, callbacks=progress)
    m = result.metrics
    console.print(styled(("Run finished", "bold green"), f": {result.run_dir} in {result.seconds / 3600:.2f} h"))
    console.print(f"  best weights: {result.best}")
    if "metrics/mAP50(B)" in m:
        console.print(f"  validation mAP50 {m['metrics/mAP50(B)']:.3f}, mAP50-95 {m.get('metrics/mAP50-95(B)', 0):.3f}")
    console.print(f"  next: roadscan evaluate --model {result.best} --data DATA, then roadscan export-model --model {result.best}")


def _adapt(folder: Path, name: str, start: str | None, *, classes: str | None, val_groups: str | None,
           epochs: int | None, **options):
    """Fine-tune on a folder of the user's frames: the shipped weights unless --model says otherwise."""
    from roadscan.detector.adaptation import EPOCHS, adapt
    from roadscan.detector.evaluation import parse_classes
    from roadscan.detector.models import shipped_model

    start = start or shipped_model("pt")
    if start is None:
        raise ConfigError("no shipped weights (.pt) to adapt from in this install", hint="give --model WEIGHTS.pt")
    console.print(f"adapting {start} to the frames in {folder}")
    out = adapt(folder, name, model=start, classes=parse_classes(classes) or {},
                val_groups=[g for g in (val_groups or "").split(",") if g] or None, epochs=epochs or EPOCHS, **options)
    counts = out.dataset.stats.query("code == 'all'").set_index("split")["images"]
    console.print(f"  frames: {int(counts.get('train', 0))} to train on, {int(counts.get('val', 0))} held out")
    console.print(f"  for the pipeline: roadscan process ... --model {out.onnx}")
    return out.run


ARCH_SUFFIXES = (".yaml", ".yml")


def _training_start(model: str | None, arch: str | None, weights: str | None, default: str | None = "yolo11n.yaml") -> str | None:
    """What training starts from: weights (--model, or the old --from) or an architecture (--arch).

    `--model X.yaml` is read as an architecture, as train's --model meant before it named weights.
    """
    if weights is not None:
        if model is not None and not model.endswith(ARCH_SUFFIXES):
            raise ConfigError("give the weights once: --model (--from is its old name)")
        model, arch = weights, arch or model
    if model is not None and model.endswith(ARCH_SUFFIXES):
        if arch is not None:
            raise ConfigError("give one architecture: --arch (--model X.yaml is its old spelling)")
        model, arch = None, model
    if model is not None and arch is not None:
        raise ConfigError("give either --model (weights to fine-tune from) or --arch (an architecture to train "
                          "from scratch), not both")
    return model or arch or default


def evaluate_cmd(
    model: Annotated[Path, typer.Option("--model", help="Weights to score: .pt (ultralytics) or .onnx (ONNX Runtime).")],
    data: Annotated[str, typer.Option("--data", help="VOC folder (images/ + annotations/), YOLO folder (images/ + labels/), data YAML, or a source name in the dataset definition.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Report folder (default runs/evaluate/MODEL_DATA).")] = None,
    imgsz: Annotated[int, typer.Option(help="Detector input size in pixels.")] = 416,
    confidence: Annotated[float, typer.Option(help="Lowest confidence kept; AP needs the low tail, F1 picks its own threshold.")] = 0.001,
    conf: Annotated[Optional[float], hidden_alias("--conf", "--confidence")] = None,
    iou: Annotated[float, typer.Option(help="NMS IoU threshold.")] = 0.7,
    batch: Annotated[int, typer.Option(help="Frames per detector batch.")] = 8,
    classes: Annotated[Optional[str], typer.Option(help="Class map for the labels, e.g. 0=D40 or D44=none (default: names, or the dataset definition).")] = None,
    sources: SourcesOption = None,
    backend: Annotated[Optional[str], typer.Option(help="ultralytics or onnx (default: by the model file's suffix).")] = None,
    device: Annotated[str, typer.Option(help="cpu, or cuda / 0 for an NVIDIA GPU.")] = "cpu",
    examples: Annotated[int, typer.Option(help="Frames on the example sheet (0: none).")] = 8,
) -> None:
    """Score a model on a labelled set: AP50 per class, mAP50, mAP50-95 and the RDD F1, with plots."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from roadscan.detector.dataset import DEFAULT_SOURCES
    from roadscan.detector.eval_report import summary_table, write_report
    from roadscan.detector.evaluation import evaluate, load_eval_set, parse_classes
    from roadscan.detector.extras import require_train

    require_train("matplotlib", "the evaluation report's plots")  # say so before the run, not after it
    evalset = load_eval_set(data, classes=parse_classes(classes), sources_yaml=sources or DEFAULT_SOURCES)
    with Progress(TextColumn("{task.description}", markup=False, style="bold"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("images", total=len(evalset.images))
        ev = evaluate(model, evalset, imgsz=imgsz, conf=confidence if conf is None else conf, iou=iou, batch=batch, backend=backend, device=device,
                      on_progress=lambda done, total: progress.update(task, completed=done))
    out = out or Path("runs/evaluate") / f"{Path(model).stem}_{evalset.name}"
    files = write_report(ev, out, examples=examples)
    show(summary_table(ev))
    console.print(f"classes from {evalset.classes_from}; {len(evalset.images)} images in {ev.seconds:.1f} s "
                  f"({len(evalset.images) / max(ev.seconds, 1e-9):.1f} frames/s)")
    console.print(styled(("Report", "bold green"), f": {out} ({', '.join(p.name for p in files.values())})"))


def calibrate_cmd(
    model: Annotated[Path, typer.Option("--model", help="Weights to calibrate: .onnx (thresholds go into its metadata) or .pt (a .thresholds.json beside it).")],
    data: Annotated[str, typer.Option("--data", help="Validation data: a data YAML (e.g. build/dataset/data.yaml, every val folder scored), a folder or a source name.")] = "build/dataset/data.yaml",
    imgsz: Annotated[int, typer.Option(help="Detector input size in pixels.")] = 416,
    batch: Annotated[int, typer.Option(help="Frames per detector batch.")] = 8,
    classes: Annotated[Optional[str], typer.Option(help="Class map for the labels, e.g. 0=D40 (default: names, or the dataset definition).")] = None,
    sources: SourcesOption = None,
    backend: Annotated[Optional[str], typer.Option(help="ultralytics or onnx (default: by the model file's suffix).")] = None,
    device: Annotated[str, typer.Option(help="cpu, or cuda / 0 for an NVIDIA GPU.")] = "cpu",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the thresholds without storing them.")] = False,
) -> None:
    """Choose each class's confidence threshold on validation data (F1-optimal) and store it with the model."""
    from rich.table import Table

    from roadscan.console import print_table
    from roadscan.core.classes import human_name
    from roadscan.detector.dataset import DEFAULT_SOURCES
    from roadscan.detector.evaluation import calibrate, load_eval_set, parse_classes

    evalset = load_eval_set(data, classes=parse_classes(classes), sources_yaml=sources or DEFAULT_SOURCES)
    with err_console.status(f"scoring {len(evalset.images)} validation images"):
        ev, found, written = calibrate(model, evalset, write=not dry_run, imgsz=imgsz, batch=batch, backend=backend,
                                       device=device)
    table = Table("class", "threshold", "precision", "recall", "F1", "boxes", "calibrated on",
                  title=f"Per-class confidence thresholds of {Path(model).name} on {evalset.name}")
    for code, sc in found.scores.items():
        table.add_row(f"{code} {human_name(code)}", f"{sc.threshold:.3f}" + ("" if sc.calibrated else " (default)"),
                      f"{sc.precision:.3f}", f"{sc.recall:.3f}", f"{sc.f1:.3f}", str(sc.instances), ", ".join(sc.sets))
    print_table(table)
    console.print(f"classes without validation boxes keep {found.default:.2f}; --confidence on process overrides all")
    if written is not None:
        console.print(styled(("Stored", "bold green"), f": {written}"))


def export_cmd(
    model: Annotated[Path, typer.Option("--model", help="Trained weights (.pt) to export.")],
    imgsz: Annotated[int, typer.Option(help="Input size the model runs at (a multiple of 32).")] = 416,
    batch: Annotated[int, typer.Option(help="Fixed batch size; 0 exports a dynamic batch and input size.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write (default: beside the weights, .onnx).")] = None,
) -> None:
    """Export weights to ONNX for the torch-free ONNX Runtime backend (load it with --model X.onnx)."""
    from roadscan.detector.export import export_onnx

    started = time.perf_counter()
    path = export_onnx(model, imgsz=imgsz, batch=batch or None, out=out)
    shape = f"batch {batch}, {imgsz}x{imgsz}" if batch else f"dynamic batch and size, runs at {imgsz} by default"
    console.print(styled(("Exported", "bold green"), f": {path} ({path.stat().st_size / 1e6:.1f} MB, {shape}) "
                         f"in {time.perf_counter() - started:.1f} s"))
    console.print(f"  next: roadscan calibrate --model {path}   (its per-class confidence thresholds; until then 0.25 flat)")


def learning_curve_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Training run folders (or their results.csv), oldest first.",
                                               metavar="RUN...")],
    out: Annotated[Path, typer.Option("--out", help="Folder for training_curve.csv and learning_curve.png.")] = Path("runs/evaluate"),
) -> None:
    """Lay training runs that continue one another end to end: one CSV and one plot of validation mAP."""
    from roadscan.detector.learning_curve import MAP50, plot, read_runs

    curve = read_runs(runs)
    out.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out / "training_curve.csv", index=False)
    png = plot(curve, out / "learning_curve.png")
    last = curve.iloc[-1]
    best = curve.loc[curve[MAP50].idxmax()]
    console.print(f"{len(curve)} epochs over {curve['run'].nunique()} runs, {last['hours']:.1f} h; best mAP50 "
                  f"{best[MAP50]:.3f} at epoch {int(best['total_epoch'])} ({best['run']}); last {last[MAP50]:.3f}")
    console.print(styled(("Written", "bold green"), f": {out / 'training_curve.csv'}, {png}"))


def register(app: typer.Typer) -> None:
    """Add the detector commands to the main `roadscan` command."""
    app.add_typer(dataset_app, name="dataset")
    app.command("train", cls=Command)(train_cmd)
    app.command("evaluate", cls=Command)(evaluate_cmd)
    app.command("calibrate", cls=Command)(calibrate_cmd)
    app.command("export-model", cls=Command)(export_cmd)
    app.command("learning-curve", cls=Command)(learning_curve_cmd)
