"""Frames per second of each stage of `roadscan process` on the synthetic drive.

The survey runs with the shipped model (or --model) through the real pipeline; the baseline, in
the same run, is PyAV decoding every frame of the same video, the least any pipeline must do.

    python bench/pipeline.py [--length 800] [--model M.pt|M.onnx] [--backend onnx] [--roads]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av

from roadscan.api.store.database import open_store
from roadscan.geo.roads import load_network
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import sample_drive_cached


def decode_all(video: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    with av.open(str(video)) as container:
        n = sum(1 for frame in container.decode(video=0) if frame.to_ndarray(format="rgb24") is not None)
    return n, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=float, default=800.0)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--backend", default=None, help="ultralytics or onnx (default: from the weights file)")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--no-roads", action="store_true", help="skip snapping and merging")
    args = parser.parse_args()
    drive = sample_drive_cached(length_m=args.length)
    network = None if args.no_roads else load_network(drive.roads)
    n, seconds = decode_all(drive.video)
    print(f"baseline: PyAV decode of all {n} frames: {n / seconds:.1f} frames/s")
    opts = ProcessOptions(camera=drive.camera, model=args.model, backend=args.backend, imgsz=args.imgsz)
    with open_store(Path(tempfile.mkdtemp()) / "bench.db") as store:
        t0 = time.perf_counter()
        summary = process_survey(drive.video, drive.gpx, store, opts, network=network)
        total = time.perf_counter() - t0
    sampled = summary.frames_sampled
    print(f"roadscan process: {summary.frames_read} frames read, {sampled} sampled every 3 m, "
          f"{summary.total_detections} detections, {total:.1f} s")
    for stage, s in summary.seconds.items():
        rate = f"{sampled / s:8.1f} sampled frames/s" if s > 0 else "       -"
        print(f"  {stage:7s} {s:6.2f} s  {rate}")
    print(f"end to end: {summary.frames_read / total:.1f} video frames/s ({sampled / total:.1f} sampled frames/s); "
          f"ratio to decode-only baseline: {summary.frames_read / total / (n / seconds):.2f}")


if __name__ == "__main__":
    main()
