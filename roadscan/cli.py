"""The `roadscan` command. Thin: it parses options, shows progress and prints summaries; the work
happens in roadscan.pipeline and the packages below it."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from roadscan.cli_help import Command, Group, hidden_alias
from roadscan.console import console, err_console, print_table, styled
from roadscan.core.classes import CLASS_CODES
from roadscan.core.errors import RoadscanError
from roadscan.core.statuses import DEFECT_STATUSES, DefectStatus

app = typer.Typer(help="Find road defects in vehicle footage and put them on the map.", cls=Group,
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

# Text, not Path: a Path would collapse the // of a database URL (sqlite:////abs/x.db, postgresql://...).
DbOption = Annotated[Optional[str], typer.Option("--db", metavar="FILE|URL", help="Store: a SQLite file or a database URL (default: $ROADSCAN_DB, else ./roadscan.db, where roadscan demo writes).")]


def main() -> None:
    """Entry point: user errors print as one clear message and exit non-zero, without a traceback."""
    try:
        app()
    except RoadscanError as exc:
        err_console.print(styled(("error:", "bold red"), f" {exc}"))
        sys.exit(exc.exit_code)


@contextmanager
def _existing_store(db: str | None):
    """The store a reading command works on: it must exist (never made empty by a typo), and what its
    database file answers (damaged, locked) is a clear error."""
    from roadscan.api.store.database import database_errors, open_store

    with open_store(db, create=False) as store, database_errors(store.location):
        yield store


@app.command(cls=Command)
def process(
    footage: Annotated[Path, typer.Argument(help="Video file (MP4, MOV, AVI, MKV) or a folder of JPEG frames; or many drives: a folder of them (footage + GPS log of the same name) or a manifest (.csv, .toml, .yaml).")],
    gps: Annotated[Optional[Path], typer.Option(help="GPS track: GPX, NMEA, CSV. Omit for GoPro GPMF or EXIF-tagged frames.")] = None,
    camera: Annotated[str, typer.Option(help="Camera profile name or .toml file.")] = "dashcam",
    camera_config: Annotated[Optional[Path], typer.Option(help="TOML file with your own camera profiles.")] = None,
    model: Annotated[Optional[Path], typer.Option(help="YOLO weights (.pt or .onnx); default: the shipped model.")] = None,
    db: DbOption = None,
    spacing: Annotated[float, typer.Option(help="Metres travelled between sampled frames.")] = 3.0,
    confidence: Annotated[Optional[float], typer.Option(help="Minimum detection confidence, one for every class (default: the per-class thresholds stored with the model, or 0.25 for a model without).")] = None,
    batch: Annotated[int, typer.Option(help="Frames per detector batch.")] = 8,
    imgsz: Annotated[int, typer.Option(help="Detector input size in pixels (the shipped model is trained at 416).")] = 416,
    backend: Annotated[Optional[str], typer.Option(help="ultralytics (.pt) or onnx (.onnx); default: from the weights file.")] = None,
    time_offset: Annotated[float, typer.Option(help="Seconds added to the footage's start time to match the GPS clock.")] = 0.0,
    start_time: Annotated[Optional[datetime], typer.Option(help="Footage start time (UTC), overriding the container's.")] = None,
    store_images: Annotated[str, typer.Option(help="Frame images to keep: detections, all or none.")] = "detections",
    replace: Annotated[bool, typer.Option(help="Process again footage that is already stored.")] = False,
    name: Annotated[Optional[str], typer.Option(help="Survey name (default: the footage's file name).")] = None,
    roads: Annotated[Optional[Path], typer.Option(help="Road network (GPKG, SHP, GeoJSON, GML, OSM/PBF), or 'helsinki' for the built-in one: detections become defects on it.")] = None,
    roads_crs: Annotated[Optional[str], typer.Option(help="CRS of a road network file that lacks one, e.g. EPSG:25832.")] = None,
    roads_layer: Annotated[Optional[str], typer.Option(help="Layer of a road network file that holds several.")] = None,
    road_classes: Annotated[Optional[Path], typer.Option(help="TOML mapping of your network's attributes to road classes.")] = None,
    road_names: Annotated[Optional[Path], typer.Option(help="Table of road names by municipality and road code (CSV: kommunekode, kode, navn, as DAWA's vejstykker) for networks without names, such as GeoDanmark Vejmidte.")] = None,
    snap_tolerance: Annotated[float, typer.Option(help="Metres from a road beyond which a defect is flagged off-network.")] = 15.0,
    scoring: Annotated[Optional[Path], typer.Option(help="TOML with severity/priority/condition weights (over the defaults).")] = None,
    places: Annotated[Optional[Path], typer.Option(help="Point layer of sensitive places (schools, bus stops) with a 'kind' column.")] = None,
    anonymise: Annotated[str, typer.Option("--anonymise", help="Masking of faces and plates in stored images: both (above the horizon, and detected below it), horizon or detect.")] = "both",
    keep_originals: Annotated[bool, typer.Option(help="Also keep unmasked frames in <store>-images-originals (never served).")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Run the drives on a local Ray cluster with this many detector workers (needs Ray: the scale extra of roadscan).")] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray", metavar="ADDRESS", help="Run the drives on the Ray cluster at ADDRESS (HOST:6379, or auto on a cluster node).")] = None,
) -> None:
    """Process one drive, or a folder or manifest of drives: footage + GPS in, geolocated detections (and, with --roads, defects) into the store."""
    from roadscan.api.store.database import open_store
    from roadscan.pipeline import ProcessOptions, process_survey

    opts = ProcessOptions(camera=camera, camera_config=camera_config, model=model, backend=backend, spacing_m=spacing,
                          confidence=confidence, batch=batch, imgsz=imgsz, time_offset_s=time_offset,
                          start_time=start_time, store_images=store_images, replace=replace, name=name,
                          mapping=_mapping_options(snap_tolerance, scoring, places), anonymise=anonymise,
                          keep_originals=keep_originals)
    network = _load_roads(roads, roads_crs, road_classes, roads_layer, road_names)
    from roadscan.batch import drives_from

    drives = drives_from(footage)
    if drives is not None or workers is not None or ray_address is not None:
        from roadscan.batch_cli import process_batch  # many drives, or Ray: roadscan/batch.py

        process_batch(drives, footage, gps, db, opts, network, workers=workers, ray_address=ray_address)
        return
    with open_store(db) as store:
        summary = _run_with_progress(process_survey, footage, gps, store, opts, network=network)
    print_summary(summary)


def _load_roads(roads: Path | None, crs: str | None, road_classes: Path | None, layer: str | None = None,
                road_names: Path | None = None):
    if roads is None:
        return None
    from roadscan.geo.roads import default_network, load_network

    with err_console.status("reading the road network"):
        network = (default_network() if str(roads) == "helsinki"
                   else load_network(roads, layer=layer, crs=crs, mapping=road_classes, road_names=road_names))
    err_console.print(f"road network: {network.report.summary()}")
    return network


def _mapping_options(tolerance: float, scoring: Path | None, places: Path | None):
    from roadscan.geo.defect_changes import MappingOptions

    layer = None
    if places is not None:
        from roadscan.geo.places import read_places

        layer = read_places(places)
    return MappingOptions(tolerance_m=tolerance, scoring=scoring, places=layer).resolved()


def _run_with_progress(job, *args, **kwargs):
    with _progress() as progress:
        task = progress.add_task("frames", total=None)
        return job(*args, **kwargs, on_progress=lambda done, total: progress.update(task, completed=done, total=total))


@app.command(cls=Command)
def surveys(db: DbOption = None) -> None:
    """List the surveys in the store."""
    from roadscan.api.store.surveys import list_surveys

    with _existing_store(db) as store:
        table = list_surveys(store)
        where = store.location
    if table.empty:
        console.print(f"No surveys in {where} yet. Run roadscan process or roadscan demo.")
        return
    out = Table(title=f"Surveys in {where}")
    for col in ("id", "name", "started (UTC)", "km", "frames read", "sampled", "detections"):
        out.add_column(col, justify="right" if col not in ("name", "started (UTC)") else "left")
    for r in table.itertuples():
        out.add_row(str(r.id), r.name, f"{r.started_at:%Y-%m-%d %H:%M:%S}", f"{r.distance_m / 1000:.2f}",
                    str(r.frames_read), str(r.frames_sampled), str(r.detections))
    print_table(out)


ClassOption = Annotated[Optional[list[str]], typer.Option("--class", help=f"Class code ({', '.join(CLASS_CODES)}) or name, e.g. pothole (repeatable).")]
StatusOption = Annotated[Optional[list[str]], typer.Option("--status", help=", ".join(DEFECT_STATUSES) + " (repeatable).")]
SeverityOption = Annotated[Optional[int], typer.Option("--min-severity", help="Only severity at least this (1-5).")]
RoadOption = Annotated[Optional[str], typer.Option("--road", help="Road name contains this.")]
BboxOption = Annotated[Optional[str], typer.Option("--bbox", help="min lon,min lat,max lon,max lat")]
AreaOption = Annotated[Optional[Path], typer.Option("--area", help="Polygon file (any vector format) to select within.")]


def _filter(codes, statuses, min_severity, road, bbox, area):
    from roadscan.api.exports import read_area
    from roadscan.api.store.filters import DefectFilter

    return DefectFilter.parse(classes=codes, statuses=statuses, min_severity=min_severity, road=road, bbox=bbox,
                              area=read_area(area) if area else None)


LimitOption = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")]


@app.command(cls=Command)
def defects(db: DbOption = None, codes: ClassOption = None, statuses: StatusOption = None,
            min_severity: SeverityOption = None, road: RoadOption = None, bbox: BboxOption = None,
            area: AreaOption = None, limit: LimitOption = 30) -> None:
    """List defects, highest priority first, with filters."""
    from roadscan.api.exports import defects_layer

    flt = _filter(codes, statuses, min_severity, road, bbox, area)
    with _existing_store(db) as store:
        layer = defects_layer(store, flt)
        where = store.location
    if layer.empty:
        console.print(f"No defects in {where} match. Process a survey with --roads, or run roadscan demo.")
        return
    print_defects(layer, limit, title=f"{len(layer)} defects in {where}, highest priority first")


def _text(value, missing: str) -> str:
    """A text cell; pandas marks a missing one NaN (truthy), not None."""
    return value if isinstance(value, str) and value else missing


def print_defects(layer, limit: int, title: str) -> None:
    table = Table(title=title)
    for col in ("id", "priority", "severity", "class", "road", "chainage", "side", "size", "seen", "status", "lat, lon"):
        table.add_column(col, justify="right" if col in ("id", "priority", "severity", "chainage", "seen") else "left")
    from roadscan.geo.scoring import default_scoring

    by_area = {code for code, rule in default_scoring().severity.items() if rule.measure == "area"}
    for r in layer.head(limit).itertuples():
        # the size that grades the class (scoring.toml): area for potholes and alligator cracks, else length
        size = f"{r.area_m2:.2f} m²" if r.code in by_area and r.area_m2 == r.area_m2 else \
            (f"{max(r.width_m or 0, r.length_m if r.length_m == r.length_m else 0):.1f} m")
        # along the source road where the network says (GeoDanmark, OSM, NVDB), else along the segment
        along = getattr(r, "road_chainage_m", None)
        along = along if along is not None and along == along else r.chainage_m
        chain = f"{along:.0f} m" if along is not None and along == along else "-"
        code = getattr(r, "road_code", None)
        unnamed = f"(road {code})" if isinstance(code, str) and code else "(unnamed road)"
        road = _text(r.road_name, unnamed) if r.on_network else "(off network)"
        table.add_row(str(r.id), f"{r.priority:.0f}", str(r.severity), r.name, road, chain, _text(r.side, "-"), size,
                      f"{r.n_obs}× / {r.n_surveys} surveys" + (" unconfirmed" if getattr(r, "evidence", None)
                                                                 == "unconfirmed" else ""), r.status, f"{r.lat:.6f}, {r.lon:.6f}")
    print_table(table)
    if len(layer) > limit:
        console.print(f"... and {len(layer) - limit} more (--limit).")


@app.command(cls=Command)
def export(db: DbOption = None,
           fmt: Annotated[str, typer.Option("--format", help="gpkg, geojson, csv or shp (Shapefile: field names cut to 10 characters)")] = "gpkg",
           out: Annotated[Path, typer.Option(help="Output file (GeoJSON/CSV: one file per layer beside it).")] = Path("roadscan-export"),
           codes: ClassOption = None, statuses: StatusOption = None, min_severity: SeverityOption = None,
           road: RoadOption = None, bbox: BboxOption = None, area: AreaOption = None,
           crs: Annotated[Optional[str], typer.Option("--crs", help="CRS of the layers: an EPSG code (EPSG:25832) or an OGC URI; default EPSG:4326 (GeoJSON stays EPSG:4326).")] = None,
           public_url: Annotated[Optional[str], typer.Option("--public-url", envvar="ROADSCAN_BASE_URL", help="The server's public address (as serve --public-url): each defect gets image_url and map_url links under it.")] = None) -> None:
    """Write defects and segment condition as GIS layers (GeoPackage opens in QGIS and ArcGIS Pro, styled)."""
    from roadscan.api.exports import export as write_export
    from roadscan.api.hosts import parse_base_url

    flt = _filter(codes, statuses, min_severity, road, bbox, area)
    public_url = parse_base_url(public_url)
    with _existing_store(db) as store:
        files = write_export(store, fmt, out, flt, crs=crs, public_url=public_url)
    for path in files:
        console.print(f"wrote {path}")


@app.command(cls=Command)
def demo(db: DbOption = None,
         model: Annotated[Optional[Path], typer.Option(help="YOLO weights (.pt or .onnx); default: the shipped model.")] = None,
         backend: Annotated[Optional[str], typer.Option(help="ultralytics (.pt) or onnx (.onnx); default: from the weights file.")] = None,
         limit: Annotated[int, typer.Option("--limit", min=1, help="Rows of the work list to show.")] = 10,
         top: Annotated[Optional[int], hidden_alias("--top", "--limit")] = None,
         replace: Annotated[bool, typer.Option("--replace", help="Process the sample drive again if the store already holds it.")] = False) -> None:
    """The whole pipeline on roadscan's synthetic Helsinki drive, with the shipped model: the work list at the end.

    It writes the store that serve, defects, export and surveys open without --db.
    """
    from roadscan.api.exports import defects_layer
    from roadscan.api.store.database import open_store
    from roadscan.geo.roads import default_network
    from roadscan.pipeline import ProcessOptions, process_survey
    from roadscan.sample import sample_drive_cached
    from roadscan.sample.score import defect_errors, defect_precision

    with err_console.status("generating the sample drive (once; cached afterwards)"):
        drive = sample_drive_cached()
    console.print(f"sample drive: {drive.video} ({drive.n_frames} frames along {', '.join(drive.road_names)}), "
                  f"GPS {drive.gpx.name}")
    network = default_network()
    opts = ProcessOptions(camera=drive.camera, model=model, backend=backend, imgsz=416, replace=replace,
                          mapping=_mapping_options(15.0, None, None))
    with open_store(db) as store:
        summary = _run_with_progress(process_survey, drive.video, drive.gpx, store, opts, network=network)
        print_summary(summary)
        layer = defects_layer(store)
        where = store.location
    print_defects(layer, top or limit, title=f"Work list: {len(layer)} defects, highest priority first")
    found = defect_errors(layer, drive, network)
    console.print(f"against the painted truth: recall {int((found.matches > 0).sum())} of {len(found)} defects found, "
                  f"median position error {found.position_error_m.median():.2f} m")
    console.print(f"  {defect_precision(layer, drive.defects(), network.crs.to_string()).line()}")
    print_next_steps(where, db)


def print_next_steps(where: str, db: str | None) -> None:
    """The demo's last lines: the exact commands that show its store on the map and export it."""
    flag = f" --db {db}" if db is not None else ""
    console.print(f"Stored in {where}. Next:")
    console.print(f"  roadscan serve{flag}                       then open {MAP_URL} in a browser")
    console.print(f"  roadscan export{flag} --format gpkg        a GeoPackage for QGIS or ArcGIS Pro")
    console.print(f"  roadscan defects{flag} --class pothole     the potholes, highest priority first")


MAP_URL = "http://127.0.0.1:8000/map"


def _browser_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server (0.0.0.0 listens everywhere, it is no address)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{shown}:{port}"


@app.command(cls=Command)
def serve(db: DbOption = None,
          host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
          private_reads: Annotated[bool, typer.Option("--private-reads", help="Every request needs an API key (viewer or higher); by default reads are public and only writes need one.")] = False,
          districts: Annotated[Optional[Path], typer.Option(help="Polygon file with a 'name' column: districts work lists accept as district=NAME.")] = None,
          base_url: Annotated[Optional[str], typer.Option("--base-url", "--public-url", envvar="ROADSCAN_BASE_URL", help="The public address clients reach the server at (e.g. https://roads.example.org): links (photos, map views, work-list GPX) use it, never the request's Host header, and its host name is trusted besides localhost.")] = None,
          basemap: Annotated[Optional[Path], typer.Option("--basemap", help="A PMTiles file (vector or raster tiles) the map page draws under the roads, served by this server: a basemap with no tile server elsewhere.")] = None) -> None:
    """Serve the store as OGC API Features (QGIS, ArcGIS Pro, GDAL, a browser) until Ctrl-C."""
    import uvicorn

    from roadscan.api.app import create_app
    from roadscan.api.store.database import default_db_path

    with _existing_store(db):  # "no store here", naming the file and what writes one, before anything starts
        pass
    api = create_app(db if db is not None else default_db_path(), public_reads=not private_reads, districts=districts,
                     photo_masker=_photo_masker(), base_url=base_url, basemap=basemap)
    url = api.state.settings.base_url or _browser_url(host, port)
    console.print(f"serving {api.state.store.location} at {url}/ until Ctrl-C\n"
                  f"  map page:  {url}/map\n"
                  f"  QGIS:      Layer > Add Layer > Add WFS / OGC API - Features Layer, URL {url}/")
    uvicorn.run(api, host=host, port=port, log_level="warning")


def _photo_masker():
    """The detector's photo masker, or None (uploads refused) where ONNX Runtime or the MTCNN weights are missing."""
    try:
        from roadscan.detector.anonymise import PhotoMasker

        return PhotoMasker()
    except ImportError as exc:
        err_console.print(styled(("warning:", "yellow"), " photo uploads are off: this server cannot mask faces and "
                                 f"number plates in them ({exc})"))
        return None


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}", markup=False, style="bold"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


def print_summary(summary) -> None:
    """The end-of-job report: what was done, what was skipped and why, and where the time went."""
    if summary.already_stored:
        console.print(styled(("Already stored", "yellow"), f" as survey {summary.survey_id}: nothing added. "
                             "Use --replace to process it again."))
        return
    from roadscan.core.classes import human_name

    console.print(styled((f"Survey {summary.survey_id} stored", "bold green"), f": {summary.footage}"))
    console.print(f"  driven: {summary.distance_km:.2f} km   frames read: {summary.frames_read}   "
                  f"sampled: {summary.frames_sampled}")
    for reason, n in summary.frames_skipped.items():
        if reason == "between samples":
            console.print(f"  not needed: {n} frames between the distance samples")
        else:
            console.print(f"  skipped {n} frames: {reason}")
    for reason, n in summary.gps_skipped.items():
        console.print(f"  GPS: dropped {n} records: {reason}")
    dets = ", ".join(f"{n} {human_name(c)}" for c, n in sorted(summary.detections.items())) or "none"
    console.print(f"  detections: {summary.total_detections} ({dets}); placed on the ground: {summary.located}"
                  + (f", above the horizon (not placed): {summary.unlocated}" if summary.unlocated else ""))
    if getattr(summary, "confidence", ""):
        console.print(f"  confidence: {summary.confidence}")
    if getattr(summary, "implausible", None):
        console.print("  dropped as no road defect: " + ", ".join(f"{n} {why}" for why, n in summary.implausible.items()))
    if summary.anonymised:
        a = summary.anonymised
        console.print(f"  anonymised ({a.mode}): {a.images} stored images, {a.faces} faces and "
                      f"{a.plates} number plates masked")
    if summary.network:
        d = summary.defects
        console.print(f"  defects on {summary.network}: {d.new} new, {d.updated} seen again"
                      + (f", {d.reopened} reopened (were marked fixed)" if d.reopened else "")
                      + (f", {d.not_reobserved} {DefectStatus.NOT_REOBSERVED}" if d.not_reobserved else ""))
    sampled = max(summary.frames_sampled, 1)
    times = "   ".join(f"{k} {v:.1f}s ({sampled / v:.1f} fr/s)" if v > 0 else f"{k} 0s"
                       for k, v in summary.seconds.items())
    console.print(f"  time: {times}")
    total = sum(summary.seconds.values())
    if total > 0:
        # 3 m between sampled frames at 50 km/h (13.9 m/s) is 4.6 frames/s: below it, footage piles up.
        rate, needed = summary.frames_sampled / total, 50 / 3.6 / 3
        console.print(f"  end to end: {rate:.1f} sampled frames/s ({rate / needed:.1f}x real time for 3 m spacing "
                      f"at 50 km/h, which needs {needed:.1f})")


def _register_command_groups() -> None:
    """Command groups that live beside their concern, each adding its commands to `app`."""
    from roadscan import db_cli, detector_cli

    detector_cli.register(app)
    db_cli.register(app)


_register_command_groups()


# --- roadscan keys: API keys for the server --------------------------------------------------------

keys_app = typer.Typer(help="API keys for `roadscan serve`: viewer (read), crew (read, update status, "
                            "add photos), admin.", no_args_is_help=True, cls=Group)
app.add_typer(keys_app, name="keys")


@keys_app.command("create", cls=Command)
def keys_create(name: Annotated[str, typer.Option("--name", help="Who the key is for, e.g. crew-north.")],
                role: Annotated[str, typer.Option("--role", help="viewer, crew or admin.")] = "viewer",
                db: DbOption = None) -> None:
    """Make a key and print it once: only its hash is stored, so it cannot be shown again."""
    from roadscan.api.auth import create_key

    with _existing_store(db) as store:
        key_id, key = create_key(store, name, role)
    err_console.print(f"key {key_id} '{name}' ({role}) created; copy it now, it is not shown again:")
    print(key)


@keys_app.command("revoke", cls=Command)
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's name or id.")], db: DbOption = None) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from roadscan.api.store.keys import revoke_key

    with _existing_store(db) as store:
        row = revoke_key(store, key)
    console.print(f"key {row['id']} '{row['name']}' ({row['role']}) revoked")


@keys_app.command("list", cls=Command)
def keys_list(db: DbOption = None) -> None:
    """The keys: name, role, when made, whether revoked (never the keys themselves)."""
    from roadscan.api.store.keys import list_keys

    with _existing_store(db) as store:
        rows = list_keys(store)
    if not rows:
        console.print("no API keys yet: roadscan keys create --name NAME --role crew")
        return
    table = Table("id", "name", "role", "starts with", "created (UTC)", "revoked (UTC)")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], r["role"], r["prefix"] + "…", f"{r['created_at']:%Y-%m-%d %H:%M}",
                      f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "")
    print_table(table)


# --- roadscan anonymise: mask faces and number plates in an existing store --------------------------

@app.command(cls=Command)
def anonymise(db: DbOption = None,
              mode: Annotated[str, typer.Option(help="both: mask above the camera's horizon and detect faces/plates below it; horizon: the mask only; detect: detection only. Crews' photos are always masked by detection.")] = "both",
              force: Annotated[bool, typer.Option(help="Process surveys again even if already anonymised.")] = False) -> None:
    """Mask faces and number plates in stored images and crews' photos, in place (stores made before anonymisation)."""
    from roadscan.anonymise_store import anonymise_store

    with _existing_store(db) as store, _progress() as progress:
        task = progress.add_task("images", total=None)
        report = anonymise_store(store, mode, force=force,
                                 on_progress=lambda done, total: progress.update(task, completed=done, total=total))
        where = store.location
    if not report:
        console.print(f"No surveys in {where}: nothing to anonymise.")
        return
    table = Table("survey", "name", "status", "mode", "images", "faces", "plates", title=f"Anonymised images in {where}")
    for r in report:
        table.add_row(str(r["survey_id"] or "-"), r["name"], r["status"], r["mode"], str(r["images"]),
                      str(r["faces"]), str(r["plates"]))
    print_table(table)
    done = [r for r in report if r["status"] == "anonymised"]
    console.print(f"masked {sum(r['faces'] for r in done)} faces and {sum(r['plates'] for r in done)} plates in "
                  f"{sum(r['images'] for r in done)} images")


if __name__ == "__main__":
    main()
