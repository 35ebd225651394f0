"""Frames per second of a batch of drives: the plain sequential `roadscan process` loop against Ray with
1 and 2 detector workers, in one run.

The drives are the synthetic sample drive (--length metres, made once and cached under the temp
folder) logged by --drives different GPS loggers (different files, so different surveys); every
configuration processes all of them with the shipped model into a fresh store, with the built-in
road network (defects mapped) and the default anonymisation, as the demo does:

- shell loop: `roadscan process DRIVE.mp4 --gps DRIVE.gpx` once per drive, as a script would call it
  (a new process each time: Python, the model and the face detector loaded per drive);
- sequential: `roadscan process FOLDER` (roadscan/batch.py: one process, the model loaded once);
- Ray, N workers: `roadscan process FOLDER --workers N` (roadscan/ray_pipeline.py) on a local cluster
  of N + 1 CPUs; its start-up (seconds) is timed apart and left out of frames/s.

frames/s counts sampled frames (the ones detected and placed). The ratio is against the sequential
batch in this run. This machine may have only 2 cores, shared with other work: 2 workers then compete
with decoding and with each other, so compare the ratios and mind the load average printed.

    .venv/bin/python bench/batch.py [--drives 3] [--length 200] [--no-shell-loop]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from roadscan.api.store.database import open_store
from roadscan.batch import STORED, read_folder, run_batch
from roadscan.geo.defect_changes import MappingOptions
from roadscan.geo.roads import default_network
from roadscan.pipeline import ProcessOptions
from roadscan.sample import make_sample_drive
from roadscan.sample.drive import SampleDrive


def drives_folder(n: int, length_m: float) -> Path:
    """n drives: the sample drive's video, each with its own GPS logger's file (cached)."""
    root = Path(tempfile.gettempdir()) / f"roadscan-bench-batch-{int(length_m)}m"
    source = root / "source"
    if not (source / "manifest.json").is_file():
        shutil.rmtree(source, ignore_errors=True)
        print(f"  making the sample drive ({length_m:g} m; once, cached in {source})")
        make_sample_drive(source, length_m=length_m)
    drive = SampleDrive.load(source)
    folder = root / f"drives-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i in range(n):
        os.link(drive.video, folder / f"drive{i}.mp4")
        (folder / f"drive{i}.gpx").write_text(drive.gpx.read_text() + f"<!-- logger {i} -->\n")
    return folder


def fresh_store(work: Path, name: str) -> Path:
    db = work / f"{name}.db"
    for p in work.glob(f"{name}*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return db


def shell_loop(folder: Path, db: Path, camera: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    for video in sorted(folder.glob("*.mp4")):
        subprocess.run([sys.executable, "-m", "roadscan.cli", "process", str(video), "--gps", str(video.with_suffix(".gpx")),
                        "--db", str(db), "--camera", camera, "--roads", "helsinki"], check=True, capture_output=True)
    seconds = time.perf_counter() - t0
    with open_store(db) as store, store.engine.connect() as conn:
        from sqlalchemy import func, select

        from roadscan.api.store import schema

        frames = conn.execute(select(func.sum(schema.surveys.c.frames_sampled))).scalar_one()
    return seconds, int(frames or 0)


def batch(folder: Path, db: Path, opts: ProcessOptions, network, workers: int | None) -> tuple[float, float, int]:
    """(start-up s, run s, frames) of one batch configuration."""
    start = 0.0
    if workers:
        from roadscan import ray_pipeline

        ray = ray_pipeline.import_ray()
        t0 = time.perf_counter()
        ray.init(num_cpus=workers + 1, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        start = time.perf_counter() - t0
    try:
        with open_store(db) as store:
            t0 = time.perf_counter()
            results = run_batch(read_folder(folder), store, opts, network=network, workers=workers)
            seconds = time.perf_counter() - t0
    finally:
        if workers:
            ray.shutdown()
    failed = [r for r in results if r.status != STORED]
    if failed:
        raise SystemExit(f"a drive was not stored: {failed[0].drive.label}: {failed[0].error}")
    return start, seconds, sum(r.frames for r in results)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drives", type=int, default=3)
    ap.add_argument("--length", type=float, default=200.0, help="metres of each drive")
    ap.add_argument("--workers", default="1,2", help="Ray worker counts to time, comma-separated")
    ap.add_argument("--no-shell-loop", action="store_true", help="skip the one-process-per-drive loop")
    args = ap.parse_args(argv)
    folder = drives_folder(args.drives, args.length)
    camera = "sample-drive"
    opts = ProcessOptions(camera=camera, mapping=MappingOptions().resolved())
    network = default_network()
    work = Path(tempfile.mkdtemp(prefix="roadscan-batch-"))
    print(f"  {args.drives} drives of {args.length:g} m in {folder}; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} (other work shares the machine)\n")
    rows = []
    if not args.no_shell_loop:
        seconds, frames = shell_loop(folder, fresh_store(work, "loop"), camera)
        rows.append(("shell loop of roadscan process", 0.0, seconds, frames))
    rows.append(("sequential (roadscan process FOLDER)", *batch(folder, fresh_store(work, "seq"), opts, network, None)))
    for n in (int(w) for w in args.workers.split(",")):
        rows.append((f"Ray, {n} worker{'s' if n > 1 else ''} (--workers {n})",
                     *batch(folder, fresh_store(work, f"ray{n}"), opts, network, n)))
    base = next(r for r in rows if r[0].startswith("sequential"))
    base_fps = base[3] / base[2]
    print(f"{'configuration':40} {'start s':>8} {'run s':>7} {'frames':>7} {'frames/s':>9} {'x sequential':>13}")
    for name, start, seconds, frames in rows:
        fps = frames / seconds
        print(f"{name:40} {start:8.1f} {seconds:7.1f} {frames:7d} {fps:9.2f} {fps / base_fps:12.2f}x")
    print(f"\n  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; Ray's start-up is not in run s.")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
