"""Detector throughput: ultralytics' PyTorch predictor against roadscan's ONNX Runtime path.

Same frames, same run, same thread count; each path is timed in interleaved rounds (a, b, c, a, b,
c, ...) so that load from other jobs hits all of them alike, and the median round is reported.

    .venv/bin/python bench/detect.py [--model M.pt] [--imgsz 416] [--frames 48] [--rounds 3]
                                     [--images DIR] [--threads N] [--batch 8]

Paths:
  (a)  ultralytics `YOLO.predict` on batches of `--batch` frames (the ultralytics backend): baseline
  (a1) ultralytics `YOLO.predict` one frame per call (its most common use)
  (b)  ONNX Runtime, dynamic-input export (what `roadscan export` writes), batches of `--batch`
  (b1) ONNX Runtime, static export with a fixed batch of `--batch`
  (b2) ONNX Runtime, dynamic export, one frame per call
  (v)  as (b), the network run by OpenVINO at FP32 instead of ONNX Runtime (only when `openvino` is
       installed: the issue asked for an OpenVINO backend if it measures faster; it is not a dependency)
  (v16) as (v) with OpenVINO's own default precision, which is bfloat16 on CPUs that have it: faster,
       but its outputs differ from FP32 (boxes by a few pixels), so its accuracy must be measured apart
  (d)  decoding alone, the floor under (c)
  (c)  end to end: PyAV decoding of the video + (b), frames streamed in batches
  (c1) end to end: as (c), decoding in a background thread so that it overlaps inference
  (c0) end to end: PyAV decoding + (a), for comparison
Frames are the synthetic sample drive's video (`roadscan.sample.make_sample_drive`, 60 m), or the
JPEGs of `--images` (then (c) and (c0) decode JPEGs with Pillow instead of video).
Model: `--model`, else the shipped roadscan.pt (`roadscan.detector.models.shipped_model("pt")`), else an untrained yolo11n built
from its YAML (speed does not depend on training; the output says which).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def pick_model(arg: str | None, tmp: Path) -> tuple[Path, str]:
    from roadscan.detector.models import shipped_model

    if arg:
        return Path(arg), f"{arg}"
    if (shipped := shipped_model("pt")) is not None:
        return shipped, f"shipped model {shipped}"
    from roadscan.core.classes import CLASS_CODES
    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    import torch
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = YOLO("yolo11n.yaml")
    model.model = DetectionModel("yolo11n.yaml", nc=len(CLASS_CODES), verbose=False)
    model.model.names = dict(enumerate(CLASS_CODES))
    path = tmp / "yolo11n_untrained.pt"
    model.save(path)
    return path, "UNTRAINED yolo11n from yolo11n.yaml (no shipped model yet; speed only, boxes are noise)"


def video_source(tmp: Path) -> Path:
    from roadscan.sample import make_sample_drive

    return make_sample_drive(tmp / "drive", length_m=60).video


def decode_video(path: Path, limit: int):
    """Frames (RGB arrays) of a video, streamed; PyAV decoding through roadscan's footage reader."""
    from roadscan.detector.footage import open_footage

    with open_footage(path) as footage:
        for i, frame in enumerate(footage.frames()):
            if i >= limit:
                break
            yield frame.image


def decode_images(files: list[Path]):
    from PIL import Image

    for f in files:
        with Image.open(f) as im:
            yield np.asarray(im.convert("RGB"))


def prefetched(frames, depth: int = 16):
    """Frames decoded in a background thread, so decoding overlaps inference (both release the GIL)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(depth)
    done = object()

    def fill() -> None:
        for f in frames:
            q.put(f)
        q.put(done)

    threading.Thread(target=fill, daemon=True).start()
    while (item := q.get()) is not done:
        yield item


class OpenVinoSession:
    """Answers ONNX Runtime's `session.run` with OpenVINO, so that (v) shares (b)'s pre- and
    post-processing and only the runtime differs."""

    def __init__(self, onnx_path: Path, threads: int, precision: str | None = "f32"):
        import openvino as ov

        config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        self.model = ov.Core().compile_model(str(onnx_path), "CPU", config)
        self.precision = str(self.model.get_property("INFERENCE_PRECISION_HINT"))
        self.request = self.model.create_infer_request()

    def run(self, _outputs, feeds: dict) -> list[np.ndarray]:
        return [self.request.infer({0: next(iter(feeds.values()))})[self.model.outputs[0]]]


def stream(detector, frames, batch: int) -> int:
    from roadscan.detector.backends import batched

    n = 0
    for chunk in batched(frames, batch):
        detector.predict(chunk)
        n += len(chunk)
    return n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="YOLO .pt weights (default: the shipped model, else untrained yolo11n)")
    parser.add_argument("--imgsz", type=int, default=416, help="detector input size (the shipped size is 416)")
    parser.add_argument("--frames", type=int, default=48, help="frames per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--conf", type=float, default=0.25, help="confidence threshold (the pipeline's default)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for torch and ONNX Runtime")
    parser.add_argument("--images", type=Path, help="a folder of JPEG frames instead of the synthetic video")
    args = parser.parse_args(argv)

    from roadscan.detector.offline import ensure_offline

    ensure_offline()
    import torch

    torch.set_num_threads(args.threads)
    from roadscan.detector.backends.onnx_backend import OnnxDetector
    from roadscan.detector.backends.ultralytics_backend import UltralyticsDetector
    from roadscan.detector.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="roadscan-bench-") as tmp_name:
        tmp = Path(tmp_name)
        model, model_note = pick_model(args.model, tmp)
        t = time.perf_counter()
        if args.images:
            files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[: args.frames]
            source_note = f"{len(files)} JPEGs from {args.images}"
            decode = lambda: decode_images(files)  # noqa: E731
        else:
            video = video_source(tmp)
            source_note = f"synthetic sample drive video {video.name}"
            decode = lambda: decode_video(video, args.frames)  # noqa: E731
        frames = list(decode())
        setup = time.perf_counter() - t
        dynamic = export_onnx(model, imgsz=args.imgsz, out=tmp / "dynamic.onnx")
        static = export_onnx(model, imgsz=args.imgsz, batch=args.batch, out=tmp / "static.onnx")

        common = dict(conf=args.conf, iou=0.5, imgsz=args.imgsz, device="cpu")
        pt = UltralyticsDetector(model, batch=args.batch, **common)
        pt1 = UltralyticsDetector(model, batch=1, **common)
        ox = OnnxDetector(dynamic, batch=args.batch, threads=args.threads, **common)
        ox_static = OnnxDetector(static, batch=args.batch, threads=args.threads, **common)
        ox1 = OnnxDetector(dynamic, batch=1, threads=args.threads, **common)
        paths: dict[str, tuple[str, Callable[[], int]]] = {
            "a": ("ultralytics predict, batches", lambda: len(pt.predict(frames))),
            "a1": ("ultralytics predict, 1 frame/call", lambda: len(pt1.predict(frames))),
            "b": ("ONNX Runtime, dynamic export", lambda: len(ox.predict(frames))),
            "b1": ("ONNX Runtime, static batch export", lambda: len(ox_static.predict(frames))),
            "b2": ("ONNX Runtime, dynamic, 1 frame/call", lambda: len(ox1.predict(frames))),
            "d": ("decode only (no detector)", lambda: sum(1 for _ in decode())),
            "c": ("decode + ONNX Runtime (end to end)", lambda: stream(ox, decode(), args.batch)),
            "c1": ("decode thread + ONNX Runtime (end to end)", lambda: stream(ox, prefetched(decode()), args.batch)),
            "c0": ("decode + ultralytics (end to end)", lambda: stream(pt, decode(), args.batch)),
        }
        detectors = [pt, pt1, ox, ox_static, ox1]
        try:
            ov = OnnxDetector(dynamic, batch=args.batch, threads=args.threads, **common)
            ov._session = OpenVinoSession(dynamic, args.threads)
            ov16 = OnnxDetector(dynamic, batch=args.batch, threads=args.threads, **common)
            ov16._session = OpenVinoSession(dynamic, args.threads, precision=None)
            paths["v"] = ("OpenVINO runtime, FP32", lambda: len(ov.predict(frames)))
            paths["v16"] = (f"OpenVINO runtime, its default ({ov16._session.precision})", lambda: len(ov16.predict(frames)))
            detectors += [ov, ov16]
        except ImportError:
            print("openvino is not installed: path (v) skipped (pip install openvino to compare)")
        for detector in detectors:  # warm-up: first-call allocations and graph optimisation
            detector.predict(frames[: args.batch])
        times: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(args.rounds):
            for key, (_, run) in paths.items():
                t = time.perf_counter()
                n = run()
                times[key].append(time.perf_counter() - t)
                assert n == len(frames), (key, n)

    h, w = frames[0].shape[:2]
    print(f"model: {model_note}")
    print(f"frames: {len(frames)} of {w}x{h} ({source_note}; prepared in {setup:.1f} s), imgsz {args.imgsz}, "
          f"batch {args.batch}, conf {args.conf}, {args.threads} threads for torch and ONNX Runtime")
    print(f"ONNX input: {'x'.join(map(str, ox.imgsz))} requested; same-size frames run on the smallest "
          f"stride-multiple rectangle (dynamic export)")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} at the end" if load else "")
    print("note: other jobs on this machine (e.g. a training run) share the CPU; rounds are interleaved so they "
          "slow every path alike, but absolute numbers move with the load.\n")
    base = statistics.median(times["a"])
    print(f"{'path':<47} {'frames/s':>9} {'ms/frame':>9} {'vs (a)':>7}   rounds (s)")
    for key, (label, _) in paths.items():
        med = statistics.median(times[key])
        fps = len(frames) / med
        rounds = " ".join(f"{x:.2f}" for x in times[key])
        print(f"{'(' + key + ')':<5} {label:<41} {fps:>9.1f} {1000 / fps:>9.1f} {base / med:>6.2f}x   {rounds}")
    e2e = statistics.median(times["c0"])
    print(f"\nend to end, ONNX Runtime against ultralytics (c0): {e2e / statistics.median(times['c']):.2f}x, "
          f"with the decode thread {e2e / statistics.median(times['c1']):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
