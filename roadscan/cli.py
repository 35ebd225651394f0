"""The `roadscan` command. Thin: it parses options, shows progress and prints summaries; the work
happens in roadscan.pipeline and the packages below it."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from roadscan.errors import RoadscanError

app = typer.Typer(help="Find road defects in vehicle footage and put them on the map.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[Optional[Path], typer.Option("--db", help="Store: SQLite file (default ./roadscan.db or $ROADSCAN_DB) or a database URL.")]


def main() -> None:
    """Entry point: user errors print as one clear message and exit non-zero, without a traceback."""
    try:
        app()
    except RoadscanError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)


@app.command()
def process(
    footage: Annotated[Path, typer.Argument(help="Video file (MP4/MOV/AVI) or folder of JPEG frames.")],
    gps: Annotated[Optional[Path], typer.Option(help="GPS track: GPX, NMEA, CSV. Omit for GoPro GPMF or EXIF-tagged frames.")] = None,
    camera: Annotated[str, typer.Option(help="Camera profile name or .toml file.")] = "dashcam",
    camera_config: Annotated[Optional[Path], typer.Option(help="TOML file with your own camera profiles.")] = None,
    model: Annotated[Optional[Path], typer.Option(help="YOLO weights (.pt); default: the shipped model.")] = None,
    db: DbOption = None,
    spacing: Annotated[float, typer.Option(help="Metres travelled between sampled frames.")] = 3.0,
    confidence: Annotated[float, typer.Option(help="Minimum detection confidence.")] = 0.25,
    batch: Annotated[int, typer.Option(help="Frames per detector batch.")] = 8,
    imgsz: Annotated[int, typer.Option(help="Detector input size in pixels.")] = 640,
    time_offset: Annotated[float, typer.Option(help="Seconds added to the footage's start time to match the GPS clock.")] = 0.0,
    start_time: Annotated[Optional[datetime], typer.Option(help="Footage start time (UTC), overriding the container's.")] = None,
    store_images: Annotated[str, typer.Option(help="Frame images to keep: detections, all or none.")] = "detections",
    replace: Annotated[bool, typer.Option(help="Process again footage that is already stored.")] = False,
    name: Annotated[Optional[str], typer.Option(help="Survey name (default: the footage's file name).")] = None,
) -> None:
    """Process one drive: footage + GPS in, geolocated detections into the store."""
    from roadscan.api.store.database import open_store
    from roadscan.pipeline import ProcessOptions, process_survey

    if store_images not in {"detections", "all", "none"}:
        raise RoadscanError(f"--store-images must be detections, all or none, not '{store_images}'")
    opts = ProcessOptions(camera=camera, camera_config=camera_config, model=model, spacing_m=spacing,
                          confidence=confidence, batch=batch, imgsz=imgsz, time_offset_s=time_offset,
                          start_time=start_time, store_images=store_images, replace=replace, name=name)
    with open_store(db) as store, _progress() as progress:
        task = progress.add_task("frames", total=None)
        summary = process_survey(footage, gps, store, opts,
                                 on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    print_summary(summary)


@app.command()
def surveys(db: DbOption = None) -> None:
    """List the surveys in the store."""
    from roadscan.api.store.database import open_store
    from roadscan.api.store.surveys import list_surveys

    with open_store(db) as store:
        table = list_surveys(store)
        where = store.location
    if table.empty:
        console.print(f"No surveys in {where} yet. Run [bold]roadscan process[/] or [bold]roadscan demo[/].")
        return
    out = Table(title=f"Surveys in {where}")
    for col in ("id", "name", "started (UTC)", "km", "frames read", "sampled", "detections"):
        out.add_column(col, justify="right" if col not in ("name", "started (UTC)") else "left")
    for r in table.itertuples():
        out.add_row(str(r.id), r.name, f"{r.started_at:%Y-%m-%d %H:%M:%S}", f"{r.distance_m / 1000:.2f}",
                    str(r.frames_read), str(r.frames_sampled), str(r.detections))
    console.print(out)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


def print_summary(summary) -> None:
    """The end-of-job report: what was done, what was skipped and why, and where the time went."""
    if summary.already_stored:
        console.print(f"[yellow]Already stored[/] as survey {summary.survey_id}: nothing added. "
                      "Use --replace to process it again.")
        return
    from roadscan.detector.classes import human_name

    console.print(f"[bold green]Survey {summary.survey_id} stored[/]: {summary.footage}")
    console.print(f"  driven: {summary.distance_km:.2f} km   frames read: {summary.frames_read}   "
                  f"sampled: {summary.frames_sampled}")
    for reason, n in summary.frames_skipped.items():
        console.print(f"  skipped {n} frames: {reason}")
    for reason, n in summary.gps_skipped.items():
        console.print(f"  GPS: dropped {n} records: {reason}")
    dets = ", ".join(f"{n} {human_name(c)}" for c, n in sorted(summary.detections.items())) or "none"
    console.print(f"  detections: {summary.total_detections} ({dets}); placed on the ground: {summary.located}"
                  + (f", above the horizon (not placed): {summary.unlocated}" if summary.unlocated else ""))
    sampled = max(summary.frames_sampled, 1)
    times = "   ".join(f"{k} {v:.1f}s ({sampled / v:.1f} fr/s)" if v > 0 else f"{k} 0s"
                       for k, v in summary.seconds.items())
    console.print(f"  time: {times}")


def _register_command_groups() -> None:
    """Command groups that live beside their concern, each adding its commands to `app`."""
    from roadscan import detector_cli

    detector_cli.register(app)


_register_command_groups()

if __name__ == "__main__":
    main()
