"""`roadscan process` over many drives (a folder or a manifest), or on Ray: progress for the whole batch
and a table of what became of each drive. The work is roadscan/batch.py's."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from roadscan.batch import ALREADY, FAILED, STORED, BatchEvents, Drive, DriveResult, run_batch, totals
from roadscan.console import console, err_console, print_table, styled
from roadscan.core.errors import ConfigError


class _Events(BatchEvents):
    """The batch's progress as two bars: drives finished, and sampled frames detected of those planned."""

    def __init__(self, progress: Progress, n_drives: int):
        self.progress = progress
        self.drives = progress.add_task("drives", total=n_drives)
        self.frames_task = progress.add_task("frames", total=None)

    def frames(self, done: int, total: int) -> None:
        self.progress.update(self.frames_task, completed=done, total=total)

    def drive(self, result: DriveResult) -> None:
        self.progress.advance(self.drives)
        if result.status == FAILED:
            err_console.print(styled(("failed:", "bold red"), f" {result.drive.label}: {result.error}"))


def process_batch(drives: list[Drive] | None, footage: Path, gps: Path | None, db: str | None, opts, network, *,
                  workers: int | None, ray_address: str | None) -> None:
    """Run the drives (or the one footage, on Ray), print the table; exit 1 when a drive failed."""
    from roadscan.api.store.database import open_store
    from roadscan.cli import _progress

    if drives is None:
        drives = [Drive(footage, gps)]
    elif gps is not None:
        raise ConfigError("--gps names the track of one drive, not of a folder or manifest of drives", path=footage,
                          hint="a folder pairs each footage with the GPS log of the same name (drive1.mp4 + "
                               "drive1.gpx); a manifest names each drive's gps")
    t0 = time.perf_counter()
    with open_store(db) as store, _progress() as progress:
        results = run_batch(drives, store, opts, network=network, workers=workers, ray_address=ray_address,
                            events=_Events(progress, len(drives)))
    print_batch(results, time.perf_counter() - t0)
    if any(r.status == FAILED for r in results):
        raise typer.Exit(1)


def print_batch(results: list[DriveResult], seconds: float) -> None:
    """One row per drive (survey, frames, detections, defects, or why it failed) and the batch's totals."""
    table = Table(title="Drives")
    for col in ("drive", "status", "survey", "km", "frames", "detections", "defects new / seen again", "reason"):
        table.add_column(col, justify="right" if col in ("survey", "km", "frames", "detections") else "left")
    style = {STORED: "green", ALREADY: "yellow", FAILED: "bold red"}
    for r in results:
        s = r.summary
        stored = r.status == STORED and s is not None
        table.add_row(r.drive.label, styled((r.status, style[r.status])), str(s.survey_id) if s and s.survey_id else "-",
                      f"{s.distance_km:.2f}" if stored else "-", str(s.frames_sampled) if stored else "-",
                      str(s.total_detections) if stored else "-",
                      f"{s.defects.new} / {s.defects.updated}" if stored and s.network else "-",
                      (r.error or "").splitlines()[0] if r.error else "")
    print_table(table)
    count = totals(results)
    frames = sum(r.frames for r in results)
    console.print(f"{count[STORED]} stored, {count[ALREADY]} already stored (skipped), {count[FAILED]} failed; "
                  f"{frames} frames in {seconds:.1f} s ({frames / seconds if seconds else 0:.1f} frames/s)"
                  + ("; run the same command again to retry the failed drives only" if count[FAILED] else ""))
