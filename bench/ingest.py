"""Ingest cost against store size: the demo survey into stores already holding 0, 100k and 1M defects elsewhere.

Each store is bench/api.py's synthetic municipality (Odense) plus what years of surveys leave there:
its streets as segments, coverage intervals and condition rows (`fill_store`); the demo survey drives
in Helsinki, so nothing stored is near it. Built once and cached under the temp folder; every run
writes into a fresh copy.

Two timings per store, in one run, against the empty store as the baseline:

- write: the survey's one transaction (`pipeline.store_survey`: rows, defects merged against those
  near it, condition of the segments it touched) for a capture detected once beforehand
  (images not kept, so only the database is timed); the median of --repeats copies;
- whole: `roadscan process` as the demo runs it (`process_survey`, shipped model, images kept), once.

The machine may be busy with other work: compare the ratios, which share it, not raw times.

    .venv/bin/python bench/ingest.py                              # 0, 100k, 1M defects
    .venv/bin/python bench/ingest.py --sizes 0,100000 --repeats 5 --no-whole
    .venv/bin/python bench/ingest.py --postgres --sizes 0,100000  # the same stores in PostgreSQL/PostGIS
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from roadscan.api.store.database import open_store
from roadscan.api.store.staging import ImageStaging
from roadscan.detector.footage import open_footage
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.defect_changes import MappingOptions
from roadscan.geo.roads import default_network
from roadscan.pipeline import (FrameProcessor, ProcessOptions, make_detector, model_name, plan_survey,
                               process_survey, store_survey)
from roadscan.sample import sample_drive_cached


def _bench_api():
    name = "roadscan_bench_api"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("api.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def fill_store(path: Path, n_defects: int, *, seed: int = 0, passes: int | None = None) -> None:
    """A store of `n_defects` synthetic defects (bench/api.py's generator) plus their streets as segments,
    one past survey's coverage of every street, several times over, and a condition row per street and
    per 20 m bin: every table a survey's write reads from holds rows, none of them near the demo drive."""
    if n_defects:
        _bench_api().build_store(path, n_defects, seed=seed)
    else:
        path.unlink(missing_ok=True)
        open_store(path).close()
    api = _bench_api()
    rng = np.random.default_rng(seed + 1)
    n_streets = 4000  # as build_store draws them
    lon = rng.uniform(api.WEST, api.EAST, n_streets)
    lat = rng.uniform(api.SOUTH, api.NORTH, n_streets)
    con = sqlite3.connect(path)
    if not n_defects:
        con.close()
        return
    now = "2025-01-01T00:00:00.000000+00:00"
    con.execute("INSERT INTO surveys (fingerprint, name, footage_path, footage_kind, gps_path, gps_format, "
                "time_offset_s, camera, model, started_at, ended_at, processed_at, distance_m, track_wkt, "
                "frames_read, frames_sampled, detections, summary) VALUES ('bench-history', 'earlier surveys', "
                "'-', 'video', '-', 'gpx', 0, '{}', '-', ?, ?, ?, 0, 'LINESTRING EMPTY', 0, 0, 0, '{}')",
                (now, now, now))
    survey_id = con.execute("SELECT id FROM surveys WHERE fingerprint = 'bench-history'").fetchone()[0]
    length = 300.0
    con.executemany("INSERT OR IGNORE INTO segments (segment_id, name, road_class, speed_kmh, length_m, network, "
                    "geometry_wkt) VALUES (?, ?, 'residential', 50, ?, 'bench', ?)",
                    [(f"seg{i}", f"street {i}", length, f"LINESTRING ({lon[i]:.6f} {lat[i]:.6f}, "
                      f"{lon[i] + 0.004:.6f} {lat[i] + 0.001:.6f})") for i in range(n_streets)])
    passes = passes or max(1, n_defects // (5 * n_streets))  # 1M defects: 50 passes over every street
    starts = rng.uniform(0, length / 2, (passes, n_streets))
    con.executemany("INSERT INTO coverage (survey_id, segment_id, start_m, end_m) VALUES (?, ?, ?, ?)",
                    [(survey_id, f"seg{i}", float(starts[p, i]), float(starts[p, i]) + length / 2)
                     for p in range(passes) for i in range(n_streets)])
    rows = []
    for i in range(n_streets):
        wkt = f"LINESTRING ({lon[i]:.6f} {lat[i]:.6f}, {lon[i] + 0.004:.6f} {lat[i] + 0.001:.6f})"
        rows.append((f"seg{i}", "segment", None, None, length, 3, 4.0, 2, "fair", wkt, now))
        rows += [(f"seg{i}", "bin", b, b + 20.0, 20.0, 0, 0.0, 1, "good", wkt, now) for b in range(0, 300, 60)]
    con.executemany("INSERT INTO segment_condition (segment_id, level, bin_start_m, bin_end_m, covered_m, n_defects, "
                    "index_per_100m, condition, condition_label, geometry_wkt, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("ANALYZE")
    con.commit()
    con.close()


def cached_store(n: int, rebuild: bool = False) -> Path:
    path = Path(tempfile.gettempdir()) / f"roadscan-bench-ingest-{n}.db"
    if rebuild or not path.is_file():
        print(f"  building the store of {n:,} defects (once; cached as {path})")
        fill_store(path, n)
    return path


class SQLiteCopies:
    """Each run's store: a fresh copy of the cached file."""

    where = "SQLite"

    def __init__(self, bases: dict[int, Path], work: Path):
        self.bases, self.work = bases, work

    def fresh(self, n: int) -> Path:
        for p in self.work.parent.glob(self.work.name + "*"):
            p.unlink()
        shutil.rmtree(self.work.with_name(self.work.stem + "-images"), ignore_errors=True)
        shutil.copyfile(self.bases[n], self.work)
        return self.work

    def close(self) -> None:
        pass


class PostgresCopies:
    """Each run's store: a database made from a template that holds the cached store's rows, copied in once
    (`roadscan db copy`) and analysed. The cluster is a throwaway one (tests/_postgres.py: Debian's
    PostgreSQL 15 + PostGIS, durability off as for the tests)."""

    where = "PostgreSQL"

    def __init__(self, bases: dict[int, Path]):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from _postgres import start_cluster

        from roadscan.api.store.transfer import copy_store

        os.environ.setdefault("ROADSCAN_IMAGES", tempfile.mkdtemp(prefix="roadscan-ingest-images-"))
        self.cluster = start_cluster()
        self.runs = 0
        for n, base in bases.items():
            t0 = time.perf_counter()
            url = self.cluster.new_database(f"base{n}")
            with open_store(base) as src, open_store(url) as dst:
                copy_store(src, dst, images=False)
            self.cluster.sql("VACUUM ANALYZE", database=url.rsplit("/", 1)[1])
            self.bases = {**getattr(self, "bases", {}), n: url.rsplit("/", 1)[1]}
            print(f"  copied the store of {n:,} defects into PostgreSQL in {time.perf_counter() - t0:.0f} s")

    def fresh(self, n: int) -> str:
        self.runs += 1
        name = f"run{self.runs}"
        self.cluster.sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.bases[n]}"')
        return self.cluster.url(name)

    def close(self) -> None:
        self.cluster.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0,100000,1000000", help="defects already stored, comma-separated")
    ap.add_argument("--repeats", type=int, default=3, help="writes per store (median)")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-survey timings (detection included)")
    ap.add_argument("--rebuild", action="store_true", help="build the stores even if cached")
    ap.add_argument("--postgres", action="store_true",
                    help="time the same stores in PostgreSQL/PostGIS (a throwaway cluster of Debian's PostgreSQL 15)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work shares the machine)")

    drive = sample_drive_cached()
    network = default_network()
    mapping = MappingOptions().resolved()
    opts = ProcessOptions(camera=drive.camera, imgsz=416, mapping=mapping)
    fast = ProcessOptions(camera=drive.camera, imgsz=416, mapping=mapping, store_images="none")
    detector = make_detector(opts)
    bases = {n: cached_store(n, args.rebuild) for n in sizes}
    work = Path(tempfile.mkdtemp(prefix="roadscan-ingest-")) / "store.db"

    # detection once, into an empty store's plan: the capture every write below stores again
    with open_store(work) as store, open_footage(drive.video) as footage:
        survey = plan_survey(footage, drive.gpx, store, fast, load_profile(drive.camera), network=network)
        with ImageStaging(store, survey.key) as staging:
            t0 = time.perf_counter()
            capture = FrameProcessor(detector, survey.camera, survey.track.crs, fast).run(
                footage, survey.plan, survey.clock, staging)
            detect_s = time.perf_counter() - t0
    print(f"  demo survey: {survey.summary.frames_sampled} frames, {len(capture.observations)} detections, "
          f"detected once in {detect_s:.1f} s\n")

    copies = PostgresCopies(bases) if args.postgres else SQLiteCopies(bases, work)
    where = copies.where
    print(f"{'store (' + where + ')':>28} {'write ms':>9} {'x empty':>8} {'whole s':>8} {'x empty':>8} {'defects':>8}")
    base_write = base_whole = None
    for n in sizes:
        times = []
        for _ in range(args.repeats):
            db = copies.fresh(n)
            with open_store(db) as store:
                run = copy.deepcopy(survey)
                with ImageStaging(store, run.key) as staging:
                    t0 = time.perf_counter()
                    store_survey(store, run, capture, staging, model_name(detector), network)
                    times.append(time.perf_counter() - t0)
        write = statistics.median(times)
        whole = None
        if not args.no_whole:
            db = copies.fresh(n)
            with open_store(db) as store:
                t0 = time.perf_counter()
                process_survey(drive.video, drive.gpx, store, opts, detector=detector, network=network)
                whole = time.perf_counter() - t0
        base_write = base_write or write
        base_whole = base_whole or whole
        ratio_whole = f"{whole / base_whole:7.2f}x" if whole else ""
        print(f"{n:>20,} defects {write * 1000:9.0f} {write / base_write:7.2f}x "
              f"{(f'{whole:8.1f}' if whole else ''):>8} {ratio_whole:>8} {run.summary.defects.new:>8}")
    copies.close()
    print("\nwrite: the survey's transaction alone (median); whole: process_survey with detection, once. "
          "x empty: against the empty store in this run.")


if __name__ == "__main__":
    main()
