"""Hostile requests against the live server (`roadscan serve` in a child process): each case of
tests/hostile/*.yaml gets a clear answer, and the server is up after every one of them (issue 15:
one filter or one photo used to take it down). The cases and their judging live in bench/hostile.py,
which prints the same run as a count."""

from __future__ import annotations

import httpx
import pytest

from _bench import load_bench
from roadscan.serve_process import stop_server

hostile = load_bench("hostile")
CASES = hostile.load_cases()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url, keys = hostile.hostile_server(tmp_path_factory.mktemp("hostile"))
    yield proc, url, keys
    assert hostile.alive(proc, url), "the server did not survive the hostile cases"
    stop_server(proc)


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server[1], timeout=120) as c:
        yield c


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_gets_a_clear_answer_and_the_server_stays_up(server, client, case):
    proc, url, keys = server
    result = hostile.run_case(client, case, keys)
    assert hostile.alive(proc, url), f"the server went down after: {case.name}"
    assert result.clear, result.why
