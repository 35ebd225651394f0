"""API speed: the real server (`roadscan serve`, uvicorn) against the same SQL run directly, in one run.

Builds (once, cached) a store of synthetic defects spread over a municipality (Odense: 10.2-10.6 E,
55.3-55.5 N) along a few thousand named streets, with realistic classes, severities, priorities,
statuses and sighting times; bulk-inserted with sqlite3 executemany into SQLite and with COPY into
PostgreSQL/PostGIS (a cluster of Debian's PostgreSQL 15 the script keeps in the temp folder, or --pg URL),
the same defects in both. Then, on each store (--backend both, the default), for each scenario it times
HTTP requests (httpx, sequentially and from several concurrent clients) and the same query run
directly on the store -- the very SQL the server runs (`Layer.page`), COUNT plus the page -- and
prints requests/s, p50/p99 latency and the ratio HTTP / direct. The difference is what the API adds:
parsing, GeoJSON, reprojection, HTTP. The machine may be busy with other work (e.g. a training job):
compare the ratio, which both sides share, not raw times. With both stores it ends with PostGIS / SQLite.

    .venv/bin/python bench/api.py                       # 1,000,000 defects
    .venv/bin/python bench/api.py --defects 100000 --requests 100
    .venv/bin/python bench/api.py --backend postgresql --pg postgresql://roadscan@dbhost/bench
    .venv/bin/python bench/api.py --defects 100000 --no-scenarios --load 60   # the load check only

Scenarios are a list (`SCENARIOS`); a new endpoint (e.g. a work-list route) is one more `Scenario`
appended there, with a `direct` function for its baseline or None.

The load check (`--load SECONDS`, issue 15) runs `--readers` clients reading (items, CQL2 filters, work
lists, tiles) and `--writers` crew clients setting statuses, all at once, each on its own keep-alive
connection; it counts 5xx answers and dropped connections, checks that every write the server
acknowledged is in the defect's history, and then times work lists from `--worklist-clients` clients.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select, text
from roadscan.api.crs import parse_crs
from roadscan.api.ogc import cql2
from roadscan.api.ogc.collections import COLLECTIONS, ItemsQuery
from roadscan.api.ogc.params import parse_bbox
from roadscan.api.store.database import Store, open_store
from roadscan import serve_process

WEST, EAST, SOUTH, NORTH = 10.2, 10.6, 55.3, 55.5
CLASSES = [("D00", "longitudinal crack", "crack", 0.35), ("D10", "transverse crack", "crack", 0.25),
           ("D20", "alligator crack", "crack", 0.2), ("D40", "pothole", "pothole", 0.15),
           ("Repair", "repair", "repair", 0.05)]
STATUSES = [("open", 0.6), ("scheduled", 0.15), ("fixed", 0.15), ("dismissed", 0.05), ("not re-observed", 0.05)]
ROAD_CLASSES = [("residential", 0.5), ("service", 0.1), ("tertiary", 0.2), ("secondary", 0.12), ("primary", 0.08)]
STREET_WORDS = ["Vej", "Gade", "Allé", "Stræde", "Boulevard", "Have", "Park", "Toften", "Engen", "Bakken"]


# -- the store ---------------------------------------------------------------------------------------------


def defect_columns() -> list[str]:
    """The defects' columns the generator fills, in schema order (later schemas' columns stay NULL)."""
    from roadscan.api.store.schema import defects

    columns = [c.name for c in defects.c if c.name != "id"]
    return columns[:columns.index("updated_at") + 1]


def defect_batches(n: int, seed: int = 0, chunk: int = 100_000) -> Iterator[list[tuple]]:
    """n synthetic defects along 4,000 streets (each a short straight line), `chunk` rows at a time, as tuples
    of `defect_columns()`; the same seed gives the same defects, whichever store they go into."""
    rng = np.random.default_rng(seed)
    n_streets = 4000
    s_lon = rng.uniform(WEST, EAST, n_streets)
    s_lat = rng.uniform(SOUTH, NORTH, n_streets)
    s_angle = rng.uniform(0, np.pi, n_streets)
    s_len = rng.uniform(0.002, 0.02, n_streets)  # degrees: about 150 m to 1.3 km
    s_name = [f"{rng.choice(['Nørre', 'Sønder', 'Øster', 'Vester', 'Ny', 'Gl.', 'Lange', 'Kirke', 'Skov', 'Mølle'])}"
              f"{rng.choice(STREET_WORDS).lower()} {i}" for i in range(n_streets)]
    s_class = rng.choice([c for c, _ in ROAD_CLASSES], n_streets, p=[p for _, p in ROAD_CLASSES])
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        street = rng.integers(0, n_streets, m)
        along = rng.uniform(0, 1, m) * s_len[street]
        lon = np.clip(s_lon[street] + along * np.cos(s_angle[street]) + rng.normal(0, 3e-5, m), WEST, EAST)
        lat = np.clip(s_lat[street] + along * np.sin(s_angle[street]) * 0.57 + rng.normal(0, 2e-5, m), SOUTH, NORTH)
        cls = rng.choice(len(CLASSES), m, p=[c[3] for c in CLASSES])
        severity = np.clip(rng.poisson(1.6, m) + 1, 1, 5)
        n_obs = rng.integers(1, 12, m)
        n_surveys = np.minimum(n_obs, rng.integers(1, 5, m))
        conf = rng.uniform(0.3, 0.95, m)
        priority = np.round(severity * 10 + rng.uniform(0, 20, m), 2)
        status = rng.choice([s for s, _ in STATUSES], m, p=[p for _, p in STATUSES])
        first = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 2 * 365 * 86400, m).astype("timedelta64[s]")
        last = first + rng.integers(0, 200 * 86400, m).astype("timedelta64[s]")
        first_s = [t + "+00:00" for t in np.datetime_as_string(first.astype("datetime64[us]"), unit="us")]
        last_s = [t + "+00:00" for t in np.datetime_as_string(last.astype("datetime64[us]"), unit="us")]
        width = np.round(rng.uniform(0.05, 1.5, m), 2)
        length = np.round(rng.uniform(0.1, 3.0, m), 2)
        rows = []
        for k in range(m):
            code, name, family, _ = CLASSES[cls[k]]
            sv, pr = int(severity[k]), float(priority[k])
            rows.append((code, name, family, float(lat[k]), float(lon[k]), f"seg{street[k]}", s_name[street[k]],
                         str(s_class[street[k]]), float(along[k] * 70000), "right" if k % 2 else "left", 1.2, 1,
                         float(width[k]), float(length[k]), round(float(width[k] * length[k]), 3), int(n_obs[k]),
                         int(n_surveys[k]), float(conf[k]), float(conf[k]) * 0.9, sv, f"severity {sv}", 0.9, pr,
                         json.dumps({"severity": sv * 10, "road class": round(pr - sv * 10, 2)}), "severity, road class",
                         str(status[k]), first_s[k], last_s[k], None, None, None, last_s[k]))
        yield rows


def build_store(path: Path, n: int, seed: int = 0, chunk: int = 100_000) -> None:
    """n synthetic defects in a SQLite store, written with executemany."""
    path.unlink(missing_ok=True)
    open_store(path).close()  # the schema, as roadscan creates it
    con = sqlite3.connect(path)
    columns = defect_columns()
    sql = f"INSERT INTO defects ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    done = 0
    for rows in defect_batches(n, seed, chunk):
        con.executemany(sql, rows)
        con.commit()
        done += len(rows)
        print(f"\r  building store: {done:,} / {n:,} defects", end="", flush=True)
    con.execute("ANALYZE")  # query-planner statistics, as a maintained server database has
    con.commit()
    con.close()
    print(f"\n  built {n:,} defects in {time.perf_counter() - t0:.1f} s: {path}")


GENERATED = 1_000_000  # defects the Python generator makes; bigger PostGIS stores repeat them in SQL


def build_postgres_store(url: str, n: int, seed: int = 0, chunk: int = 100_000) -> None:
    """The same n defects in a PostgreSQL/PostGIS store, streamed in with COPY; the GiST indexes are built
    once at the end (roadscan's own open adds them back), the rows put in spatial order (CLUSTER), then
    VACUUM ANALYZE, as a maintained server has.

    Past GENERATED defects (10 million: the Python generator would take most of an hour here) the first
    GENERATED are repeated by INSERT ... SELECT inside the database, each copy moved by a few metres at
    random: the same streets, classes and statuses, denser."""
    import psycopg

    open_store(url).close()  # the schema and PostGIS columns, as roadscan creates them
    columns = defect_columns()
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("DROP INDEX IF EXISTS ix_defects_geom, ix_defects_geom_3857")
        done = 0
        with conn.cursor().copy(f"COPY defects ({', '.join(columns)}) FROM STDIN") as copy:
            for rows in defect_batches(min(n, GENERATED), seed, chunk):
                for row in rows:
                    copy.write_row(row)
                done += len(rows)
                print(f"\r  building PostGIS store: {done:,} / {n:,} defects", end="", flush=True)
        conn.commit()
        moved = {"lon": "lon + (random() - 0.5) * 1e-4", "lat": "lat + (random() - 0.5) * 6e-5"}
        while done < n:
            m = min(GENERATED, n - done)
            conn.execute(f"INSERT INTO defects ({', '.join(columns)}) SELECT "
                         f"{', '.join(moved.get(c, c) for c in columns)} FROM defects WHERE id <= %s", (m,))
            conn.commit()
            done += m
            print(f"\r  building PostGIS store: {done:,} / {n:,} defects", end="", flush=True)
    open_store(url).close()  # GiST indexes
    with psycopg.connect(url, autocommit=True) as conn:
        # Rows in the order of where they are, as surveys write them (a drive stores one street's defects
        # together); the generator's random order would make every bbox read a page per row.
        conn.execute("CLUSTER defects USING ix_defects_geom")
        conn.execute("VACUUM ANALYZE")
    print(f"\n  built {n:,} defects in PostGIS in {time.perf_counter() - t0:.1f} s")


BENCH_PG = Path(tempfile.gettempdir()) / "roadscan-bench-pg"  # a PostgreSQL cluster kept between runs
PG_SETTINGS = "-c shared_buffers=2GB -c work_mem=64MB -c maintenance_work_mem=1GB -c max_wal_size=8GB " \
              "-c effective_cache_size=8GB -c random_page_cost=1.1 -c jit=off"


def _tests_module(name: str):
    """A helper module of tests/ (e.g. _postgres: the throwaway cluster), loaded by path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def postgres_store(n: int, url: str | None = None, rebuild: bool = False) -> str:
    """The bench store of n defects on PostgreSQL/PostGIS: in the database `url`, or in a cluster that this
    script runs from Debian's PostgreSQL 15 in BENCH_PG (kept, so a second run reuses the store)."""
    if url is None:
        pg = _tests_module("_postgres")
        try:
            cluster = pg.start_cluster(BENCH_PG, settings=PG_SETTINGS)
        except pg.PostgresUnavailable as exc:
            raise SystemExit(f"no PostgreSQL for the bench: {exc} (or give --pg URL)") from None
        name = f"bench_{n}"
        if rebuild:
            cluster.sql(f'DROP DATABASE IF EXISTS "{name}"')
        url = cluster.url(name)
        if not cluster.sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            cluster.sql(f'CREATE DATABASE "{name}" TEMPLATE {pg.TEMPLATE}')
            build_postgres_store(url, n)
            return url
    elif rebuild:
        build_postgres_store(url, n)
        return url
    with open_store(url) as store, store.engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM defects")).scalar_one()
    if not held:
        build_postgres_store(url, n)
    else:
        print(f"  cached PostGIS store: {held:,} defects in {url}")
    return url


def sqlite_store(n: int, path: Path | None = None, rebuild: bool = False) -> Path:
    db = path or Path(tempfile.gettempdir()) / f"roadscan-bench-api-{n}.db"
    if rebuild or not db.is_file():
        build_store(db, n)
    else:
        print(f"  cached store: {db}")
    return db


# -- scenarios -----------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One kind of request: a path, and a function of a random generator giving its query parameters.

    `direct(store, params)` runs the same database work without HTTP, as the baseline (None: no baseline).
    """

    name: str
    path: str
    params: Callable[[np.random.Generator], dict[str, Any]]
    direct: Callable[[Store, dict[str, Any]], int] | None = None
    max_requests: int | None = None  # cap for slow scenarios (full scans)


def _box(rng: np.random.Generator, w: float, h: float) -> tuple[float, float, float, float]:
    x = rng.uniform(WEST + 0.02, EAST - 0.02 - w)
    y = rng.uniform(SOUTH + 0.02, NORTH - 0.02 - h)
    return round(x, 5), round(y, 5), round(x + w, 5), round(y + h, 5)


def direct_items(collection: str) -> Callable[[Store, dict[str, Any]], int]:
    """The items query as the server runs it (same SQL, COUNT plus the page), without HTTP or GeoJSON."""
    coll = COLLECTIONS[collection]

    def run(store: Store, params: dict[str, Any]) -> int:
        query = ItemsQuery(limit=int(params.get("limit", 100)), offset=int(params.get("offset", 0)))
        if "bbox" in params:
            query.bbox = parse_bbox(params["bbox"], parse_crs(None))
        if "filter" in params:
            query.filter = cql2.parse(params["filter"])
        matched, _rows = coll.layer.page(store, coll.query(query))
        return matched

    return run


def _bbox_params(rng):
    return {"bbox": ",".join(map(str, _box(rng, 0.006, 0.004))), "limit": 1000}


def _cql2_params(rng):
    x1, y1, x2, y2 = _box(rng, 0.03, 0.02)
    return {"filter": f"S_INTERSECTS(geometry, BBOX({x1},{y1},{x2},{y2})) AND severity >= 4 AND status = 'open'",
            "limit": 1000}


def _cql2_attr_params(rng):
    road_class = rng.choice(["primary", "secondary"])
    return {"filter": f"road_class = '{road_class}' AND severity = 5 AND status IN ('open', 'scheduled') "
                      f"AND first_seen >= TIMESTAMP('2025-06-01T00:00:00Z')", "limit": 100}


GRID_LON, GRID_LAT = 0.003, 0.002  # street spacing of the bench network: about 190 m x 220 m blocks


def ensure_grid_network(db: Path | str) -> None:
    """A street grid over the area in the segments table (once), so work lists have roads to route on."""
    from roadscan.api.store.schema import segments

    with open_store(db) as store, store.engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(segments)).scalar_one():
            return
        lons = np.arange(WEST, EAST + 1e-9, GRID_LON)
        lats = np.arange(SOUTH, NORTH + 1e-9, GRID_LAT)
        rows = []
        keys = ("segment_id", "name", "road_class", "speed_kmh", "length_m", "network", "geometry_wkt")
        for j, lat in enumerate(lats):  # east-west streets, one segment per block
            metres = GRID_LON * 111_320 * np.cos(np.radians(lat))
            rows += [dict(zip(keys, (f"h{j}-{i}", f"Tværvej {j}", "local", 50.0, metres, "bench grid",
                                     f"LINESTRING ({lons[i]:.6f} {lat:.6f}, {lons[i + 1]:.6f} {lat:.6f})")))
                     for i in range(len(lons) - 1)]
        for i, lon in enumerate(lons):  # north-south streets
            rows += [dict(zip(keys, (f"v{i}-{j}", f"Langvej {i}", "collector", 50.0, GRID_LAT * 111_000, "bench grid",
                                     f"LINESTRING ({lon:.6f} {lats[j]:.6f}, {lon:.6f} {lats[j + 1]:.6f})")))
                     for j in range(len(lats) - 1)]
        conn.execute(segments.insert(), rows)
    print(f"  added a street grid of {len(rows):,} segments for work-list routing")


def _worklist_params(rng):
    x1, y1, x2, y2 = _box(rng, 0.04, 0.025)
    return {"bbox": f"{x1},{y1},{x2},{y2}", "min_priority": 40, "limit": 100, "order": "route",
            "start": f"{(x1 + x2) / 2:.5f},{(y1 + y2) / 2:.5f}"}


def direct_worklist(store: Store, params: dict[str, Any]) -> int:
    """The work list's database work and route planning without HTTP: select, then order by road."""
    from roadscan.api.routing import plan_route
    from roadscan.api.store.filters import DefectFilter, select_top
    from roadscan.api.store.segments import road_network
    from roadscan.api.worklists import DEFAULT_STATUSES

    bbox = tuple(float(v) for v in params["bbox"].split(","))
    table = select_top(store, DefectFilter(bbox=bbox, statuses=DEFAULT_STATUSES), limit=params["limit"],
                       min_priority=params["min_priority"])
    start = tuple(float(v) for v in params["start"].split(","))
    plan_route(road_network(store), table[["lon", "lat", "segment_id", "chainage_m"]], start=start)
    return len(table)


SCENARIOS: list[Scenario] = [
    Scenario("bbox (~300 defects)", "/collections/defects/items", _bbox_params, direct_items("defects")),
    Scenario("CQL2 bbox + severity + status", "/collections/defects/items", _cql2_params, direct_items("defects")),
    Scenario("CQL2 attributes only (full scan)", "/collections/defects/items", _cql2_attr_params,
             direct_items("defects"), max_requests=20),
    Scenario("work list, 100 stops, driving order", "/worklists", _worklist_params, direct_worklist, max_requests=10),
]


# -- the load check ------------------------------------------------------------------------------------


def _load_reads(rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    """One reader's request: a mix of what GIS clients, the map and crews ask."""
    kind = rng.integers(0, 5)
    if kind == 0:
        return "/collections/defects/items", _bbox_params(rng)
    if kind == 1:
        return "/collections/defects/items", {**_cql2_params(rng), "limit": 100}
    if kind == 2:
        return "/worklists", _crew_worklist_params(rng)
    if kind == 3:
        x, y = rng.integers(8656, 8675), rng.integers(5200, 5219)  # z14 tiles over the area
        return f"/tiles/defects/14/{x}/{y}.mvt", {}
    return "/collections/defects/items", {"filter": f"severity >= {rng.integers(1, 6)} AND status = 'open'",
                                          "limit": 50}


def _crew_worklist_params(rng):
    """A crew's list for its area: the 50 most urgent open defects of a district-sized box."""
    x1, y1, x2, y2 = _box(rng, 0.08, 0.05)
    return {"bbox": f"{x1},{y1},{x2},{y2}", "min_priority": 30, "limit": 50}


@dataclass
class LoadResult:
    requests: int = 0
    errors_5xx: int = 0
    dropped: int = 0
    writes: int = 0
    other: dict[int, int] | None = None
    missing_writes: int = 0
    examples: list[str] | None = None


def load_check(url: str, store: Store, key: str, n_defects: int, seconds: float, readers: int, writers: int,
               seed: int = 1) -> LoadResult:
    """`readers` + `writers` clients for `seconds`: 5xx answers, dropped connections, writes kept."""
    from roadscan.api.store.defect_status import status_history

    out = LoadResult(other={}, examples=[])
    written: list[tuple[int, str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def record(status: int | None, what: str) -> None:
        with lock:
            out.requests += 1
            if status is None:
                out.dropped += 1
            elif status >= 500:
                out.errors_5xx += 1
            elif status >= 300:
                out.other[status] = out.other.get(status, 0) + 1
            if (status is None or status >= 500) and len(out.examples) < 5:
                out.examples.append(what)

    def reader(i: int) -> None:
        rng = np.random.default_rng(seed * 1000 + i)
        with httpx.Client(base_url=url, timeout=300) as client:
            while time.monotonic() < deadline:
                path, params = _load_reads(rng)
                try:
                    r = client.get(path, params=params)
                    record(r.status_code, f"GET {path}: {r.status_code} {r.text[:200]}")
                except httpx.TransportError as exc:
                    record(None, f"GET {path}: {type(exc).__name__} {exc}")

    def writer(i: int) -> None:
        rng = np.random.default_rng(seed * 2000 + i)
        n = 0
        with httpx.Client(base_url=url, timeout=300, headers={"X-API-Key": key}) as client:
            while time.monotonic() < deadline:
                defect, n = int(rng.integers(1, n_defects + 1)), n + 1
                note = f"load check {seed}: writer {i}, write {n}"
                body = {"status": str(rng.choice(["scheduled", "fixed", "open"])), "note": note}
                try:
                    r = client.post(f"/defects/{defect}/status", json=body)
                    record(r.status_code, f"POST status: {r.status_code} {r.text[:200]}")
                    if r.status_code == 200:
                        with lock:
                            written.append((defect, note))
                except httpx.TransportError as exc:
                    record(None, f"POST status: {type(exc).__name__} {exc}")

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    threads += [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.writes = len(written)
    by_defect: dict[int, set[str]] = {}
    for defect, note in written:
        by_defect.setdefault(defect, set()).add(note)
    for defect, notes in by_defect.items():
        kept = {h["note"] for h in status_history(store, defect).history}
        out.missing_writes += len(notes - kept)
    return out


WORKLISTS = {"a crew's area, 50 most urgent": _crew_worklist_params,
             "the whole municipality, 50 most urgent (read every defect before)": lambda rng: {}}


def worklist_latency(url: str, clients: int, requests: int, params: Callable[[np.random.Generator], dict[str, Any]],
                     seed: int = 1) -> dict[str, float]:
    """p50/p99 of work lists with these parameters from `clients` clients at once."""
    rng = np.random.default_rng(seed)
    sc = Scenario("work lists", "/worklists", params)
    stats, _ = time_http(url, sc, [sc.params(rng) for _ in range(requests)], clients)
    return stats


# -- timing --------------------------------------------------------------------------------------------


def start_server(db: Path | str) -> tuple[subprocess.Popen, str]:
    try:
        return serve_process.start_server(db, Path(tempfile.gettempdir()) / "roadscan-bench-api-server.log",
                                          timeout=120)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def _stats(latencies: list[float], wall: float) -> dict[str, float]:
    lat = sorted(latencies)
    return {"rps": len(lat) / wall, "p50": statistics.median(lat) * 1000,
            "p99": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))] * 1000}


def in_threads(worker: Callable[[list], None], items: list, clients: int) -> float:
    """Run `worker` on `clients` interleaved shares of `items` at once; returns the wall seconds."""
    threads = [threading.Thread(target=worker, args=(items[i::clients],)) for i in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t0


def time_http(url: str, sc: Scenario, params: list[dict[str, Any]], clients: int) -> tuple[dict[str, float], int]:
    """Requests spread over `clients` threads, each with its own keep-alive connection."""
    latencies: list[float] = []
    returned = []
    lock = threading.Lock()

    def worker(mine: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for p in mine:
                t = time.perf_counter()
                r = client.get(sc.path, params=p)
                dt = time.perf_counter() - t
                if r.status_code != 200:
                    print(f"  {sc.name}: HTTP {r.status_code}: {r.text[:300]}")
                    raise SystemExit(1)
                with lock:
                    latencies.append(dt)
                    body = r.json()
                    returned.append(body.get("numberReturned", body.get("count", 0)))

    return _stats(latencies, in_threads(worker, params, clients)), int(np.mean(returned))


def time_direct(store: Store, sc: Scenario, params: list[dict[str, Any]]) -> dict[str, float]:
    latencies = []
    t0 = time.perf_counter()
    for p in params:
        t = time.perf_counter()
        sc.direct(store, p)
        latencies.append(time.perf_counter() - t)
    return _stats(latencies, time.perf_counter() - t0)


def stores(args) -> list[tuple[str, Path | str]]:
    """(backend, store) pairs the run measures: the same generated defects in each."""
    out: list[tuple[str, Path | str]] = []
    if args.backend in ("sqlite", "both"):
        out.append(("sqlite", sqlite_store(args.defects, args.store, args.rebuild)))
    if args.backend in ("postgresql", "both"):
        out.append(("postgresql", postgres_store(args.defects, args.pg, args.rebuild)))
    return out


def add_store_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--defects", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both",
                    help="which stores to measure (both: the same defects in each, one run)")
    ap.add_argument("--store", type=Path, default=None, help="SQLite store file (default: cached under the temp folder)")
    ap.add_argument("--pg", default=None, metavar="URL",
                    help=f"PostgreSQL/PostGIS database (default: a cluster of Debian's PostgreSQL 15 kept in {BENCH_PG})")
    ap.add_argument("--rebuild", action="store_true", help="build the stores even if they are cached")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_store_options(ap)
    ap.add_argument("--requests", type=int, default=200, help="requests per scenario and mode")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients in the concurrent mode")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-scenarios", action="store_true", help="skip the timed scenarios")
    ap.add_argument("--load", type=float, default=0, metavar="SECONDS", help="run the load check this long (0: not)")
    ap.add_argument("--readers", type=int, default=50, help="load check: reading clients")
    ap.add_argument("--writers", type=int, default=16, help="load check: clients setting statuses")
    ap.add_argument("--worklist-clients", type=int, default=10, help="load check: clients timing work lists")
    args = ap.parse_args(argv)

    measured: dict[tuple[str, str, str], dict[str, float]] = {}
    for backend, db in stores(args):
        ensure_grid_network(db)
        print(f"\n== {backend}: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(other work shares the machine)")
        run_backend(args, backend, db, measured)
    backends = sorted({k[0] for k in measured})
    if len(backends) == 2:
        print(f"\n{'scenario':40} {'mode':14} {'p50 pg/sqlite':>14} {'p99 pg/sqlite':>14}")
        for (backend, name, mode), pg in measured.items():
            lite = measured.get(("sqlite", name, mode))
            if backend == "postgresql" and lite:
                print(f"{name:40} {mode:14} {pg['p50'] / lite['p50']:13.2f}x {pg['p99'] / lite['p99']:13.2f}x")


def run_backend(args, backend: str, db: Path | str, measured: dict) -> None:
    key = None
    if args.load:
        from roadscan.api.auth import create_key

        with open_store(db) as store:
            key = create_key(store, f"load-check-{os.getpid()}", "crew")[1]
    proc, url = start_server(db)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on kill too
    try:
        with open_store(db) as store:
            if args.load:
                print(f"\nload check: {args.readers} readers + {args.writers} writers for {args.load:g} s "
                      f"on {args.defects:,} defects ...")
                res = load_check(url, store, key, args.defects, args.load, args.readers, args.writers, args.seed)
                print(f"  {res.requests:,} requests ({res.requests / args.load:.0f}/s): {res.errors_5xx} answered 5xx, "
                      f"{res.dropped} dropped connections; other non-2xx: {res.other or 'none'}")
                print(f"  {res.writes:,} status writes acknowledged, {res.writes - res.missing_writes:,} of them in "
                      f"the history ({res.missing_writes} missing)")
                for example in res.examples:
                    print(f"  e.g. {example}")
                for what, params in WORKLISTS.items():
                    wl = worklist_latency(url, args.worklist_clients, max(args.requests, 5 * args.worklist_clients),
                                          params, args.seed)
                    print(f"  /worklists, {what}, from {args.worklist_clients} clients: "
                          f"p50 {wl['p50']:.0f} ms, p99 {wl['p99']:.0f} ms, {wl['rps']:.1f} req/s")
            if args.no_scenarios:
                return
            print(f"\n{'scenario (' + backend + ')':40} {'mode':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'feats':>6} {'x direct':>9}")
            for sc in SCENARIOS:
                rng = np.random.default_rng(args.seed)
                params = [sc.params(rng) for _ in range(min(args.requests, sc.max_requests or args.requests))]
                httpx.get(f"{url}{sc.path}", params=params[0], timeout=120)  # warm up caches and connections
                base = None
                if sc.direct is not None:
                    sc.direct(store, params[0])
                    base = time_direct(store, sc, params)
                    measured[(backend, sc.name, "direct SQL")] = base
                    print(f"{sc.name:40} {'direct SQL':14} {base['rps']:8.1f} {base['p50']:8.1f} {base['p99']:8.1f}")
                for clients in (1, args.clients):
                    try:
                        stats, returned = time_http(url, sc, params, clients)
                    except statistics.StatisticsError:  # every request failed (time_http's threads said why)
                        print(f"{sc.name:40} HTTP failed: see the server's answers above")
                        break
                    ratio = f"{stats['p50'] / base['p50']:8.1f}x" if base else ""
                    mode = "HTTP seq" if clients == 1 else f"HTTP {clients} clients"
                    measured[(backend, sc.name, mode)] = stats
                    print(f"{sc.name:40} {mode:14} {stats['rps']:8.1f} {stats['p50']:8.1f} {stats['p99']:8.1f} "
                          f"{returned:6d} {ratio:>9}")
        print("\nx direct: HTTP p50 / direct-SQL p50 (same clauses, COUNT + page); "
              "the rest is GeoJSON, CRS and HTTP.")
    finally:
        serve_process.stop_server(proc)


if __name__ == "__main__":
    main()
