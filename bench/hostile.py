"""Hostile requests against the real server (`roadscan serve`): does each get a clear answer, and does the
server stay up through all of them?

The requests are data, in tests/hostile/*.yaml, so the next probe adds rows, not code. A case names a
request and the answer expected of it; a clear answer is that status (or status class, e.g. 4xx),
with the OGC error body (code and description) when it is an error, the connection kept open unless
the case allows closing it, and no more of a refused body read than the case allows. No case may
get a 5xx, and after each case the server must still answer /conformance. tests/test_hostile_api.py
runs the same cases, one test each.

    .venv/bin/python bench/hostile.py      # hostile inputs tried: N; clear answers: N

Case fields (YAML): name; request ("GET /path"); params, headers; key (none, crew, viewer, wrong);
json (a JSON body), form (multipart: `file` is a generated image or bytes, other fields are text),
raw (a body of zeros: {bytes: N, chunked: true|false, multipart: as a form's file}); expect (a status, "4xx", or a list);
closes (the server may close the connection); ogc_body (false: uvicorn itself refuses it, in
plain text); sent_at_most (bytes of body the client may have sent
before the answer came); response_headers (names the answer must carry); response_excludes (text it
must not hold). A text value may be a
list of parts, each a string or [string, times]: [["(", 1600], "severity = 1", [")", 1600]].
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from PIL import Image

CASES = Path(__file__).resolve().parent.parent / "tests" / "hostile"
CHUNK = 64 * 1024


@dataclass
class Case:
    name: str
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    key: str = "none"
    json: Any = None
    form: dict[str, Any] | None = None
    raw: dict[str, Any] | None = None
    expect: list[str] = field(default_factory=lambda: ["2xx"])
    closes: bool = False
    ogc_body: bool = True  # False: the HTTP server itself refuses it, before the API sees it
    sent_at_most: int | None = None
    response_headers: list[str] = field(default_factory=list)
    response_excludes: list[str] = field(default_factory=list)


@dataclass
class Result:
    case: Case
    status: int | None
    clear: bool
    why: str = ""


def load_cases(folder: Path = CASES) -> list[Case]:
    """Every case of every YAML file in the folder, in file and then list order; names are unique."""
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            method, target = row.pop("request").split(" ", 1)
            expect = row.pop("expect", "2xx")
            cases.append(Case(method=method, path=target, expect=[str(e) for e in (expect if isinstance(expect, list)
                                                                                     else [expect])], **row))
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"hostile cases named twice: {duplicates}")
    return cases


def text(value: Any) -> Any:
    """A value as the request sends it: a list of parts is joined ([s, n] repeats s n times)."""
    if not isinstance(value, list):
        return value
    return "".join(part[0] * part[1] if isinstance(part, list) else str(part) for part in value)


# -- generated bodies ---------------------------------------------------------------------------------


def image_file(spec: dict[str, Any]) -> tuple[str, bytes, str]:
    """(file name, bytes, content type) of a generated upload.

    {image: jpeg|png, size: [w, h]}: a real, decodable image of one colour (a 12000 x 12000 JPEG is
    1.7 MB, a 1-bit PNG 41 kB); {header_only: jpeg|png, size: [w, h]}: only the header, claiming that
    size; {bytes: N, type: ...}: N bytes of 'x'.
    """
    if "bytes" in spec:
        return "file.bin", b"x" * spec["bytes"], spec.get("type", "application/octet-stream")
    kind = spec.get("image") or spec["header_only"]
    width, height = spec["size"]
    mime = f"image/{'jpeg' if kind == 'jpeg' else kind}"
    if "header_only" in spec:
        return f"photo.{kind}", (_png_header if kind == "png" else _jpeg_header)(width, height), mime
    buf = io.BytesIO()
    mode = "1" if kind == "png" else "L"
    Image.new(mode, (width, height), 1 if mode == "1" else 128).save(buf, format=kind.upper(),
                                                                      **({"quality": 50} if kind == "jpeg" else {}))
    return f"photo.{kind}", buf.getvalue(), mime


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b""))


def _jpeg_header(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"".join(bytes([i, 0]) for i in (1, 2, 3)) + bytes([0, 63, 0])
    return b"\xff\xd8" + sof + sos + b"\xff\xd9"


class Zeros:
    """A body of `size` zero bytes streamed in chunks, counting what the client got to send; with
    `multipart`, the bytes are the content of a form's file field (boundary 'hostile')."""

    HEAD = (b'--hostile\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n")

    TAIL = b"\r\n--hostile--\r\n"

    def __init__(self, size: int, multipart: bool = False):
        self.size, self.sent, self.multipart = size, 0, multipart
        self.length = size + (len(self.HEAD) + len(self.TAIL) if multipart else 0)

    def __iter__(self) -> Iterator[bytes]:
        if self.multipart:
            yield self.HEAD
        while self.sent < self.size:
            chunk = b"\0" * min(CHUNK, self.size - self.sent)
            self.sent += len(chunk)
            yield chunk
        if self.multipart:
            yield self.TAIL


# -- running -------------------------------------------------------------------------------------------


def _expected(status: int, expect: list[str]) -> bool:
    return any(str(status) == e or (e.endswith("xx") and str(status)[0] == e[0]) for e in expect)


def run_case(client: httpx.Client, case: Case, keys: dict[str, str]) -> Result:
    """Send the case's request and judge the answer."""
    headers = {k: text(v) for k, v in case.headers.items()}
    if case.key != "none":
        headers["X-API-Key"] = keys[case.key]
    request: dict[str, Any] = {"params": {k: text(v) for k, v in case.params.items()}, "headers": headers}
    body = None
    if case.json is not None:
        request["content"] = json.dumps({k: text(v) for k, v in case.json.items()}
                                        if isinstance(case.json, dict) else case.json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif case.form is not None:
        request["files"] = {k: image_file(v) for k, v in case.form.items() if isinstance(v, dict)}
        request["data"] = {k: text(v) for k, v in case.form.items() if not isinstance(v, dict)}
    elif case.raw is not None:
        body = Zeros(case.raw["bytes"], case.raw.get("multipart", False))
        headers.setdefault("Content-Type", "multipart/form-data; boundary=hostile")
        if case.raw.get("chunked", True):
            request["content"] = iter(body)
        else:
            headers["Content-Length"] = str(body.length)
            request["content"] = iter(body)
    try:
        r = client.request(case.method, text(case.path), **request)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Result(case, None, False, f"no answer: {type(exc).__name__}: {exc}")
    problems = []
    if r.status_code >= 500:
        problems.append("a server error")
    if not _expected(r.status_code, case.expect):
        problems.append(f"expected {' or '.join(case.expect)}")
    if r.status_code >= 400 and case.ogc_body and not _ogc_body(r):
        problems.append("no OGC error body (code, description)")
    if not case.closes and "close" in r.headers.get("connection", "").lower():
        problems.append("the server closed the connection")
    if case.sent_at_most is not None and body is not None and body.sent > case.sent_at_most:
        problems.append(f"the client sent {body.sent:,} bytes before the answer (at most {case.sent_at_most:,})")
    missing = [h for h in case.response_headers if h not in r.headers]
    if missing:
        problems.append(f"no {', '.join(missing)} header")
    echoed = [t for t in case.response_excludes if t in r.text]
    if echoed:
        problems.append(f"the answer holds {', '.join(echoed)}")
    sent = f"(after {body.sent:,} bytes of body) " if body is not None else ""
    why = f"{r.status_code} {sent}" + ("; ".join(problems) + " -- " if problems else "") + r.text[:200]
    return Result(case, r.status_code, not problems, why)


def _ogc_body(r: httpx.Response) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("code")) and bool(body.get("description"))


def alive(proc, url: str) -> bool:
    """The server process runs and answers /conformance."""
    if proc is not None and proc.poll() is not None:
        return False
    try:
        return httpx.get(f"{url}/conformance", timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


# -- a server to run them against ----------------------------------------------------------------------


def hostile_server(folder: Path, defects: int = 2000):
    """`roadscan serve` over a store of synthetic defects (bench/api.py's), with crew and viewer keys.
    Returns (process, base URL, keys); the caller stops the process (serve_process.stop_server)."""
    from roadscan import serve_process
    from roadscan.api.auth import create_key
    from roadscan.api.store.database import open_store

    db = folder / "hostile.db"
    _bench_api().build_store(db, defects)
    _bench_api().ensure_grid_network(db)  # streets to route work lists over
    with open_store(db) as store:
        keys = {role: create_key(store, f"hostile-{role}", role)[1] for role in ("crew", "viewer")}
    keys["wrong"] = "rsk_" + "x" * 43
    proc, url = serve_process.start_server(db, folder / "server.log", timeout=120)
    return proc, url, keys


def _bench_api():
    import importlib.util

    name = "roadscan_bench_api"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("api.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=Path, default=CASES, help="folder of case files (*.yaml)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every answer, not only the unclear ones")
    args = ap.parse_args(argv)
    from roadscan import serve_process

    cases = load_cases(args.cases)
    with tempfile.TemporaryDirectory(prefix="roadscan-hostile-") as tmp:
        proc, url, keys = hostile_server(Path(tmp))
        results, down = [], None
        t0 = time.perf_counter()
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                for case in cases:
                    result = run_case(client, case, keys)
                    results.append(result)
                    if not result.clear or args.verbose:
                        print(f"{'ok  ' if result.clear else 'FAIL'} {case.name}: {result.why}")
                    if not alive(proc, url):
                        down = case.name
                        break
        finally:
            serve_process.stop_server(proc)
    clear = sum(r.clear for r in results)
    print(f"hostile inputs tried: {len(results)}; clear answers: {clear}"
          f" ({time.perf_counter() - t0:.0f} s; the server {'went down after ' + repr(down) if down else 'stayed up'})")
    return 0 if clear == len(cases) and down is None else 1


if __name__ == "__main__":
    sys.exit(main())
