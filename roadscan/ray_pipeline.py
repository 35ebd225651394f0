"""A batch of drives as a Ray Data pipeline: decoding, detection and masking spread over a Ray cluster.

The driver (this process) reads each drive's GPS and plans its frames (`pipeline.plan_survey`),
skipping drives already stored; Ray Data then decodes the sampled frames (one task per drive),
runs them through a pool of detector actors (the model loaded once per actor; CPUs, and a GPU
where ONNX Runtime has CUDA, declared per actor) that detect, place and mask them with the very
code of the single-machine run (`pipeline.FrameProcessor.process`), and streams the results back.
Each drive has one writer here (`_SurveyWriter`) that stages its images and, once every frame is
in, stores it in one transaction (`pipeline.store_survey`), idempotent by its fingerprint. A drive
whose decoding or detection fails is reported and the others go on.

Ray is an optional extra (`pip install 'roadscan[scale]'`), imported only here.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from roadscan.api.store.database import Store, database_errors
from roadscan.api.store.staging import ImageStaging
from roadscan.batch import ALREADY, FAILED, STORED, BatchEvents, Drive, DriveResult, failure, reason
from roadscan.core.errors import ConfigError, RoadscanError
from roadscan.detector.anonymise import Anonymiser
from roadscan.detector.footage import open_footage
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.roads import RoadNetwork
from roadscan.pipeline import (AnonymisedCounts, CaptureBuilder, FrameBatch, FrameProcessor, PlannedSurvey,
                               ProcessOptions, make_detector, model_name, plan_survey, resolve_model, store_survey)

DECODE_CPUS = 1.0  # one decoding task (FFmpeg) per drive at a time; detector actors share the rest


def import_ray():
    """Ray and Ray Data, or a ConfigError saying how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"--workers and --ray run the batch on Ray, which is not installed ({exc.name})",
                          hint="pip install 'roadscan[scale]' (or leave out --workers/--ray to process the drives "
                               "one after another)") from None
    return ray


def connect(workers: int | None, address: str | None) -> bool:
    """Join the cluster at `address`, or start a local one for `workers` detector actors plus decoding;
    a Ray already started in this process (a test session's) is used as it is. True: started here."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=int((workers or 1) + DECODE_CPUS), **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"cannot start or join a Ray cluster ({exc})", path=address,
                          hint="give --ray the address `ray start --head` printed (HOST:6379), or 'auto' on a "
                               "cluster node") from None
    return True


def _cuda_onnx() -> bool:
    try:
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        return False


def resources(workers: int | None) -> dict[str, Any]:
    """Detector actors and what each declares: a GPU each where the cluster has GPUs and ONNX Runtime has
    CUDA; else CPUs, one per actor where the cluster has them beside decoding, a share of them otherwise."""
    import ray

    cluster = ray.cluster_resources()
    cpus, gpus = float(cluster.get("CPU", 1)), int(cluster.get("GPU", 0))
    if gpus and _cuda_onnx():
        actors = min(workers or gpus, gpus)
        return {"actors": actors, "num_cpus": 1.0, "num_gpus": 1, "device": "cuda"}
    actors = workers or max(1, int(cpus - DECODE_CPUS))
    per_actor = 1.0 if cpus >= actors + DECODE_CPUS else max(0.1, (cpus - min(DECODE_CPUS, cpus / 2)) / actors)
    return {"actors": actors, "num_cpus": per_actor, "num_gpus": None, "device": "cpu"}


def _decode(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The sampled frames of one drive, decoded (a Ray task); a failure is one row naming it."""
    drive = int(item["drive"])
    try:
        with open_footage(Path(item["footage"])) as footage:
            t0 = time.perf_counter()
            for frame in footage.frames(keep=np.asarray(item["frames"], dtype=np.int64)):
                yield {"drive": drive, "frame": frame.index, "image": frame.image, "decode_s": time.perf_counter() - t0,
                       "error": ""}
                t0 = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - a damaged video fails its drive, not the batch
        yield {"drive": drive, "frame": -1, "image": np.zeros((1, 1, 3), np.uint8), "decode_s": 0.0,
               "error": reason(exc)}


class DetectFrames:
    """A detector actor: the model and the face detector loaded once, then batch after batch of any drive."""

    def __init__(self, plans: dict[int, tuple], opts: ProcessOptions, device: str):
        self.plans = plans  # drive -> (its sampled frames' plan rows by frame index, camera, CRS)
        self.opts = opts
        self.detector = make_detector(opts, device=device)
        self.anonymiser = Anonymiser(opts.anonymise) if opts.store_images != "none" else None
        self.facts = {"model": model_name(self.detector), "confidence": _operating_point(self.detector),
                      "face_detector": "mtcnn" if self.anonymiser and self.anonymiser.detects_faces else None}
        self.processors: dict[int, FrameProcessor] = {}

    def _processor(self, drive: int) -> FrameProcessor:
        if drive not in self.processors:
            _, camera, crs = self.plans[drive]
            self.processors[drive] = FrameProcessor(self.detector, camera, crs, self.opts, anonymiser=self.anonymiser)
        return self.processors[drive]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        drives, out = batch["drive"], {"drive": [], "result": [], "error": []}
        for drive in dict.fromkeys(drives.tolist()):
            rows = np.flatnonzero(drives == drive)
            errors = [str(batch["error"][k]) for k in rows if batch["error"][k]]
            result, error = b"", errors[0] if errors else ""
            if not error:
                try:
                    by_index = self.plans[drive][0]
                    frames = [int(batch["frame"][k]) for k in rows]
                    done = self._processor(drive).process([{"frame": f, **by_index.loc[f].to_dict()} for f in frames],
                                                          [batch["image"][k] for k in rows])
                    done.seconds["decode"] = float(sum(batch["decode_s"][k] for k in rows))
                    result = pickle.dumps((done, self.facts))
                except Exception as exc:  # noqa: BLE001 - reported as this drive's failure
                    error = reason(exc)
            out["drive"].append(drive)
            out["result"].append(result)
            out["error"].append(error)
        return {"drive": np.array(out["drive"], dtype=np.int64), "result": np.array(out["result"], dtype=object),
                "error": np.array(out["error"], dtype=object)}


def _operating_point(detector) -> str:
    try:
        from roadscan.detector.thresholds import operating_point
    except ImportError:
        return ""
    return operating_point(detector)


class _SurveyWriter:
    """One survey's writer: its batches staged as they come, then stored in one transaction."""

    def __init__(self, store: Store, drive: Drive, survey: PlannedSurvey, network: RoadNetwork | None):
        self.store, self.drive, self.survey, self.network = store, drive, survey, network
        self.expected, self.received = len(survey.kept), 0
        self.staging: ImageStaging | None = None
        self.builder: CaptureBuilder | None = None
        self.facts: dict[str, Any] = {}
        self.result: DriveResult | None = None

    @property
    def complete(self) -> bool:
        return self.received >= self.expected

    def add(self, batch: FrameBatch, facts: dict[str, Any]) -> None:
        if self.builder is None:
            self.staging = ImageStaging(self.store, self.survey.key, keep_originals=self.survey.opts.keep_originals)
            self.builder = CaptureBuilder(self.staging, AnonymisedCounts(mode=self.survey.opts.anonymise,
                                                                         face_detector=facts["face_detector"]))
        self.facts = facts
        seconds = self.survey.summary.seconds
        for stage, s in batch.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + s
        self.builder.add(batch, self.survey.clock)
        self.received += len(batch.frames)

    def write(self) -> DriveResult:
        summary = self.survey.summary
        try:
            if hasattr(summary, "confidence"):
                summary.confidence = self.facts.get("confidence", "")
            with database_errors(self.store.location):
                store_survey(self.store, self.survey, self.builder.capture(), self.staging, self.facts["model"],
                             self.network)
            self.staging.publish_originals()
            self.result = DriveResult(self.drive, STORED, summary)
        except RoadscanError as exc:
            self.result = failure(self.drive, exc)
        finally:
            self.close()
        return self.result

    def fail(self, reason: str) -> DriveResult:
        self.close()
        self.result = DriveResult(self.drive, FAILED, error=reason)
        return self.result

    def close(self) -> None:
        if self.staging is not None:
            self.staging.__exit__(None, None, None)
            self.staging = None


def _plan(drive: Drive, store: Store, opts: ProcessOptions, network: RoadNetwork | None) -> PlannedSurvey:
    own = drive.options(opts)
    profile = load_profile(own.camera, config=own.camera_config)
    with open_footage(drive.footage) as footage, database_errors(store.location):
        return plan_survey(footage, drive.gps, store, own, profile, network=network)


def run_on_ray(drives: list[Drive], store: Store, opts: ProcessOptions, *, network: RoadNetwork | None = None,
               workers: int | None = None, address: str | None = None,
               events: BatchEvents | None = None) -> list[DriveResult]:
    """Every drive into the store through Ray Data; the results in the drives' order (see the module)."""
    ray = import_ray()
    events = events or BatchEvents()
    resolve_model(opts.model)  # no model: refused before Ray starts
    results: dict[int, DriveResult] = {}
    writers: dict[int, _SurveyWriter] = {}
    for i, drive in enumerate(drives):  # the GPS read and the frames planned here; stored drives skipped
        try:
            survey = _plan(drive, store, opts, network)
        except Exception as exc:  # noqa: BLE001 - a drive that cannot be planned fails alone
            results[i] = failure(drive, exc)
        else:
            if survey.plan is None:
                results[i] = DriveResult(drive, ALREADY, survey.summary)
            else:
                writers[i] = _SurveyWriter(store, drive, survey, network)
        if i in results:
            events.drive(results[i])
    if writers:
        started = connect(workers, address)
        try:
            _stream(ray, writers, results, opts, workers, events)
        finally:
            for writer in writers.values():
                writer.close()
            if started:
                ray.shutdown()
    return [results[i] for i in range(len(drives))]


def _stream(ray, writers: dict[int, _SurveyWriter], results: dict[int, DriveResult], opts: ProcessOptions,
            workers: int | None, events: BatchEvents) -> None:
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the command shows the batch's own progress
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    res = resources(workers)
    plans = {i: (w.survey.kept.set_index("frame"), w.survey.camera, w.survey.track.crs) for i, w in writers.items()}
    items = [{"drive": i, "footage": str(w.drive.footage), "frames": w.survey.kept["frame"].to_numpy(np.int64)}
             for i, w in writers.items()]
    ds = (ray.data.from_items(items, override_num_blocks=len(items))
          .flat_map(_decode, num_cpus=DECODE_CPUS)
          .map_batches(DetectFrames, fn_constructor_kwargs={"plans": plans, "opts": opts, "device": res["device"]},
                       batch_size=opts.batch, batch_format="numpy",
                       compute=ray.data.ActorPoolStrategy(size=res["actors"]),
                       num_cpus=res["num_cpus"], num_gpus=res["num_gpus"]))
    total = sum(w.expected for w in writers.values())
    done = 0
    events.frames(0, total)
    try:
        for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for drive, blob, error in zip(out["drive"], out["result"], out["error"]):
                writer = writers[int(drive)]
                if writer.result is not None:
                    continue
                if error:
                    results[int(drive)] = writer.fail(str(error))
                    events.drive(results[int(drive)])
                    continue
                batch, facts = pickle.loads(blob)
                try:
                    writer.add(batch, facts)
                except RoadscanError as exc:  # its images cannot be staged (a full disk): this drive fails
                    results[int(drive)] = writer.fail(reason(exc))
                    events.drive(results[int(drive)])
                    continue
                done += len(batch.frames)
                events.frames(done, total)
                if writer.complete:
                    results[int(drive)] = writer.write()
                    events.drive(results[int(drive)])
    except Exception as exc:  # noqa: BLE001 - the pipeline itself broke: what was not stored is reported
        why = f"the Ray pipeline stopped ({type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]})"
        for i, writer in writers.items():
            if writer.result is None:
                results[i] = writer.fail(why)
                events.drive(results[i])
    for i, writer in writers.items():
        if writer.result is None:
            results[i] = writer.fail(f"only {writer.received} of {writer.expected} frames came back from Ray")
            events.drive(results[i])
