"""Checks by clients no one here wrote, against the running server over HTTP.

- `ogctests`: the OGC API Features Part 1 Core test suite (PyPI), run as its own process.
- schemathesis: generates requests from our OpenAPI document (valid and boundary values, fuzzing)
  and checks every answer: no server error, only documented status codes and content types, bodies
  that match the documented schemas. It runs with a crew key so that the write routes are reached,
  against a private copy of the store.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _api_copy import copy_live_store
from _live_api import live_api, serve_process

pytestmark = pytest.mark.timeout(600)

SCHEMATHESIS_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
                       "response_headers_conformance,response_schema_conformance")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=540)


def test_ogctests_part1_core_suite_passes(tmp_path):
    pytest.importorskip("ogctests", reason="ogctests is installed with --no-deps by the README's install command")
    done = _run([sys.executable, "-m", "ogctests", "features/core", "-i", live_api().url], tmp_path)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout and " error" not in done.stdout, tail


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    """A served copy of the sample store with a crew key, for requests that change data."""
    from roadscan.api.auth import create_key
    from roadscan.api.store.database import open_store

    folder = tmp_path_factory.mktemp("fuzz")
    db = copy_live_store(folder)
    with open_store(db) as store:
        _, key = create_key(store, "fuzzer", "crew")
        first_defect = store.engine.connect().exec_driver_sql("SELECT min(id) FROM defects").scalar()
    return serve_process(db, folder / "server.log"), key, first_defect, folder


@pytest.mark.parametrize("ids", ["fuzzed", "existing"])
def test_schemathesis_finds_no_server_errors_or_schema_violations(fuzz_target, ids):
    """Twice: with every parameter generated (unknown ids, odd values), and with defect ids pinned to
    a stored defect so that the image, history, status and photo routes answer with real data."""
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if cli is None:
        pytest.skip("schemathesis is not installed (the test extra)")
    url, key, first_defect, folder = fuzz_target
    work = folder / ids
    work.mkdir()
    config = work / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.defect_id" = {first_defect}\n' if ids == "existing" else "")
    done = _run([cli, "--config-file", str(config), "run", f"{url}/openapi.json", "-H", f"X-API-Key: {key}",
                 "--checks", SCHEMATHESIS_CHECKS, "--phases", "examples,coverage,fuzzing", "--max-examples", "25",
                 "--seed", "1", "--workers", "1", "--request-timeout", "30", "--generation-deterministic"], work)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    tested = re.search(r"Tested: (\d+)", out)
    assert tested and int(tested.group(1)) >= 15, out[-3000:]  # every operation of the API was exercised
