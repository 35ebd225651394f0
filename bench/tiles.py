"""Vector tile speed: z14 defect tiles over 1,000,000 defects on SQLite and on PostGIS, against bare queries, in one run.

Uses the stores `bench/api.py` builds and caches (synthetic defects over Odense, 10.2-10.6 E,
55.3-55.5 N; about 3,500 defects per z14 tile), the same defects in SQLite and in PostgreSQL/PostGIS.
Each z14 tile over the data is requested once in random order from the real server (`roadscan
serve`), so every request makes its tile (no tile cache hit); then the same tiles again (served from
the in-memory tile cache), and with If-None-Match (304). Baselines, on the same data in the same run:
on SQLite the same bbox query (tile plus buffer, the same columns, ordered by priority) run straight
with sqlite3, rows fetched and nothing else; on PostGIS a bare `ST_AsMVT` query (the same tile,
buffer, attributes, order and limit) run straight with psycopg, without parallel workers as the
server runs it (and, for reference, with PostgreSQL's default parallel plan). `in-process` is the server's own
function (api/tiles.py render_tile) without HTTP. Compare the ratios: the machine may be busy.

    .venv/bin/python bench/tiles.py                    # 1,000,000 defects, every z14 tile once, both stores
    .venv/bin/python bench/tiles.py --defects 100000 --tiles 100 --backend postgresql
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from roadscan import serve_process
from roadscan.api.store.database import open_store
from roadscan.api.tiles import (
    BUFFER,
    DEFECT_PROPERTIES,
    EXTENT,
    MAX_POINTS,
    TileAddress,
    TileCache,
    render_tile,
    tile_for,
)

Z = 14


def _bench_api():
    """bench/api.py as a module (store builder, server starter, timing helpers), loaded once, without a package."""
    if "roadscan_bench_api" in sys.modules:
        return sys.modules["roadscan_bench_api"]
    spec = importlib.util.spec_from_file_location("roadscan_bench_api", Path(__file__).with_name("api.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def z14_tiles(bench) -> list[TileAddress]:
    x0, y0 = tile_for(bench.WEST, bench.NORTH, Z)
    x1, y1 = tile_for(bench.EAST, bench.SOUTH, Z)
    return [TileAddress(Z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def direct_sql(con: sqlite3.Connection, tile: TileAddress) -> int:
    west, south, east, north = tile.bounds_lonlat(BUFFER)
    rows = con.execute(f"SELECT {', '.join(DEFECT_PROPERTIES)}, lon, lat FROM defects "
                       "WHERE lat >= ? AND lat <= ? AND lon >= ? AND lon <= ? ORDER BY priority DESC, id LIMIT ?",
                       (south, north, west, east, MAX_POINTS)).fetchall()
    return len(rows)


def time_each(fn, tiles: list[TileAddress]) -> tuple[dict[str, float], list]:
    latencies, out = [], []
    t0 = time.perf_counter()
    for t in tiles:
        s = time.perf_counter()
        out.append(fn(t))
        latencies.append(time.perf_counter() - s)
    return _bench_api()._stats(latencies, time.perf_counter() - t0), out


def time_http(url: str, tiles: list[TileAddress], clients: int, etags: dict | None = None) -> tuple[dict[str, float], dict]:
    latencies: list[float] = []
    seen: dict = {}
    lock = threading.Lock()

    def worker(mine: list[TileAddress]) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for t in mine:
                headers = {"If-None-Match": etags[t]} if etags else {}
                s = time.perf_counter()
                r = client.get(f"/tiles/defects/{t.z}/{t.x}/{t.y}.mvt", headers=headers)
                dt = time.perf_counter() - s
                if r.status_code not in (200, 304):
                    raise SystemExit(f"HTTP {r.status_code}: {r.text[:300]}")
                with lock:
                    latencies.append(dt)
                    seen[t] = (r.headers.get("etag"), len(r.content), r.status_code)

    api = _bench_api()
    return api._stats(latencies, api.in_threads(worker, tiles, clients)), seen


def bare_st_asmvt(conn, tile: TileAddress) -> int:
    """The tile as one bare PostGIS query: ST_AsMVT over the indexed Web Mercator points, the served
    attributes (times as their day), nothing else; the server's settings as they are."""
    attributes = ", ".join(f"substr({p}, 1, 10) AS {p}" if p in ("first_seen", "last_seen", "updated_at") else p
                           for p in DEFECT_PROPERTIES)
    data = conn.execute(
        "SELECT ST_AsMVT(t.*, 'defects', %(extent)s, 'geom', 'fid') FROM ("
        f" SELECT id AS fid, {attributes},"
        " ST_AsMVTGeom(geom_3857, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(extent)s, %(buffer)s, true) AS geom"
        " FROM defects WHERE geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)"
        " ORDER BY priority DESC, id LIMIT %(limit)s) AS t",
        {"z": tile.z, "x": tile.x, "y": tile.y, "extent": EXTENT, "buffer": BUFFER, "margin": BUFFER / EXTENT,
         "limit": MAX_POINTS}).fetchone()[0]
    return len(data or b"")


def measure(backend: str, db, tiles: list[TileAddress], clients: int) -> list[tuple[str, dict, str]]:
    """The baseline, the in-process tile and HTTP for one store; the baseline first."""
    bench = _bench_api()
    if backend == "sqlite":
        con = sqlite3.connect(db)
        direct_sql(con, tiles[0])
        base, counts = time_each(lambda t: direct_sql(con, t), tiles)
        con.close()
        print(f"  defects per tile (with buffer): mean {np.mean(counts):.0f}, max {max(counts)}")
        rows = [("direct SQL rows (baseline)", base, "")]
    else:
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            bare_st_asmvt(conn, tiles[0])
            default, _ = time_each(lambda t: bare_st_asmvt(conn, t), tiles)
            # the same without parallel workers, as the server runs its tile query (api/store/tiles.py)
            conn.execute("SET max_parallel_workers_per_gather = 0")
            base, sizes = time_each(lambda t: bare_st_asmvt(conn, t), tiles)
        rows = [("bare ST_AsMVT, serial (baseline)", base, f"{np.mean(sizes) / 1024:.0f} KiB"),
                ("bare ST_AsMVT, parallel (PG default)", default, "")]

    with open_store(db) as store:
        cache = TileCache(size=0)
        version = "bench"
        render_tile(store, cache, version, "defects", tiles[0])
        inproc, sizes = time_each(lambda t: render_tile(store, cache, version, "defects", t), tiles)
    rows.append(("in-process tile (query+encode)", inproc, f"{np.mean([len(s) for s in sizes]) / 1024:.0f} KiB"))

    proc, url = bench.start_server(db)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        httpx.get(f"{url}/tiles/defects/0/0/0.mvt", timeout=120)  # warm up
        half = len(tiles) // 2  # each half made fresh once: sequential, then concurrent
        seq, seen = time_http(url, tiles[:half], 1)
        rows.append(("HTTP new tile, 1 client", seq, ""))
        conc, seen2 = time_http(url, tiles[half:], clients)
        rows.append((f"HTTP new tile, {clients} clients", conc, ""))
        seen.update(seen2)
        cached, _ = time_http(url, tiles, 1)
        rows.append(("HTTP cached tile, 1 client", cached, ""))
        etags = {t: v[0] for t, v in seen.items()}
        not_modified, codes = time_http(url, tiles, 1, etags)
        assert all(v[2] == 304 for v in codes.values()), "expected 304 for every tile"
        rows.append(("HTTP If-None-Match (304)", not_modified, ""))
    finally:
        serve_process.stop_server(proc)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench = _bench_api()
    bench.add_store_options(ap)
    ap.add_argument("--tiles", type=int, default=0, help="at most this many z14 tiles (0: every tile over the data)")
    ap.add_argument("--clients", type=int, default=2, help="concurrent clients in the concurrent mode")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    stores = bench.stores(args)
    tiles = z14_tiles(bench)
    rng = np.random.default_rng(args.seed)
    rng.shuffle(tiles)
    if args.tiles:
        tiles = tiles[:args.tiles]
    results = {}
    for backend, db in stores:
        print(f"\n== {backend}: {len(tiles)} z14 tiles; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
              "cores (other work shares the machine)")
        results[backend] = rows = measure(backend, db, tiles, args.clients)
        base = rows[0][1]
        print(f"\n{'z14 defect tiles, ' + backend + ', ' + format(args.defects, ','):40} {'tiles/s':>8} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'p50 x base':>11} {'p99 x base':>11}")
        for name, s, note in rows:
            print(f"{name:40} {s['rps']:8.1f} {s['p50']:8.1f} {s['p99']:8.1f} {s['p50'] / base['p50']:10.2f}x "
                  f"{s['p99'] / base['p99']:10.2f}x {note}")
    print("\nx base: latency over the baseline's (SQLite: the bare bbox query, rows only; PostGIS: a bare ST_AsMVT "
          "query); the rest is projection, MVT encoding and HTTP.")
    if len(results) == 2:
        lite = {name: s for name, s, _ in results["sqlite"]}
        print(f"\n{'PostGIS / SQLite':40} {'p50':>8} {'p99':>8}")
        for name, s, _ in results["postgresql"][1:]:
            if name in lite:
                print(f"{name:40} {s['p50'] / lite[name]['p50']:7.2f}x {s['p99'] / lite[name]['p99']:7.2f}x")


if __name__ == "__main__":
    main()
