"""Limits on what one request may ask (api/limits.py), and answers that keep the connection.

Issue 15: a CQL2 filter nested 1,600 parentheses deep segfaulted the whole server inside the cql2
parser; the filter is now measured before any parser sees it, and the parser runs in a child process
waited for a limited time. After a 500 uvicorn closed the keep-alive connection.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from roadscan.api.app import create_app
from roadscan.api.limits import Limits
from roadscan.api.ogc import errors
from roadscan.api.ogc.cql2_guard import ParserProcesses, json_depth, text_depth
from roadscan.api.store.cql2_sql import FilterError
from roadscan.core.errors import ConfigError

from _api_copy import copy_live_store
from _live_api import serve_in_thread
from _raw_http import RawConnection


@pytest.mark.parametrize("text, depth", [
    ("severity = 1", 0),
    ("((severity = 1))", 2),
    ("NOT NOT severity = 1", 2),
    ("NOT a = 1 AND NOT b = 2", 1),  # a NOT lasts until the next AND/OR
    ("(NOT (NOT a = 1)) OR b = 2", 4),
    ("severity = ---1", 3),
    ("road_name = '((((NOT NOT'", 0),  # strings are data
    ("road_name = 'it''s ((('", 0),  # a doubled quote stays inside the string
    ('"weird(name" = 1', 0),  # a quoted identifier too
    ("road_name IS NOT NULL AND severity > 2", 1),
])
def test_text_nesting_is_counted_before_parsing(text, depth):
    assert text_depth(text, 64) == depth


def test_json_nesting_is_counted_before_parsing():
    assert json_depth('{"op": "=", "args": [{"property": "a"}, 1]}', 64) == 3
    assert json_depth('{"op": "=", "args": ["[[[[{{{{", 1]}', 64) == 2
    assert json_depth("[" * 1000, 64) == 65  # stops counting once past the limit


def test_a_parser_that_crashes_or_runs_too_long_costs_its_child_process_not_the_server():
    """The limits are checked first; this is the second guard. Straight to the parser (past the limits):
    1,700 parentheses crash it, a parse failing inside 24 parentheses backtracks for minutes. Each is a
    FilterError (400) here, in this process, and the next filter parses as before."""
    parsers = ParserProcesses()
    try:
        with pytest.raises(FilterError, match="crashed the CQL2 parser"):
            parsers.parse("(" * 1700 + "severity = 1" + ")" * 1700, False, 30)
        assert parsers.parse("severity = 1", False, 30)[0]  # a new child answers
        with pytest.raises(FilterError, match="more than 1 s"):
            parsers.parse("(" * 24 + "severity =", False, 1)
        assert parsers.parse("severity = 1", False, 30) == (True, {"op": "=", "args": [{"property": "severity"}, 1.0]})
    finally:
        parsers.close()


def test_a_filter_whose_parse_would_backtrack_is_refused_at_once(api):
    """20 unclosed parentheses took the parser 13 s (it backtracks about 2^n); the depth limit refuses it."""
    r = httpx.get(f"{api.url}/collections/defects/items", params={"filter": "(" * 20 + "severity ="}, timeout=60)
    assert r.status_code == 400 and "levels deep" in r.json()["description"]


def test_limits_are_configuration_with_safe_defaults():
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"ROADSCAN_MAX_FILTER_DEPTH": "8", "ROADSCAN_MAX_IMAGE_PIXELS": "12_000_000"}) == \
        Limits(max_filter_depth=8, max_image_pixels=12_000_000)
    with pytest.raises(ConfigError, match="ROADSCAN_MAX_BODY_BYTES"):
        Limits.from_env({"ROADSCAN_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ConfigError, match="max_filter_depth"):
        Limits(max_filter_depth=0)


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """A server with small filter limits, to see each one refuse."""
    db = copy_live_store(tmp_path_factory.mktemp("limits"))
    limits = Limits(max_filter_chars=300, max_filter_depth=3, max_filter_terms=4)
    with serve_in_thread(create_app(db, limits=limits)) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


@pytest.mark.parametrize("text, status, words", [
    ("(((severity = 1)))", 200, None),
    ("((((severity = 1))))", 400, "more than 3 levels"),
    ("NOT NOT NOT NOT severity = 1", 400, "more than 3 levels"),
    ("severity = 1 OR severity = 2", 200, None),
    ("severity = 1 OR severity = 2 OR severity = 3 OR severity = 4", 400, "has 5 operations"),
    ("road_name = '" + "x" * 300 + "'", 400, "at most 300"),
])
def test_configured_filter_limits_apply(tight, text, status, words):
    r = tight.get("/collections/defects/items", params={"filter": text})
    assert r.status_code == status, r.text
    if words:
        assert words in r.json()["description"]


def test_the_connection_stays_open_after_4xx_answers(api):
    """Many bad requests, and then a good one, on one keep-alive connection."""
    bad = ["/collections/defects/items?filter=" + "(" * 1600, "/collections/defects/items?datetime=9999-99-99",
           "/collections/defects/items?id=99999999999999999999999", "/collections/nothing",
           "/collections/defects/items?filter=" + "NOT%20" * 2000 + "severity%3D1"]
    with RawConnection(api.url) as conn:
        for path in bad:
            conn.send_head("GET", path, {})
            status, headers, _ = conn.read_response()
            assert 400 <= status < 500 and "close" not in headers.get("connection", ""), (path, status)
        conn.send_head("GET", "/conformance", {})
        assert conn.read_response()[0] == 200


def test_an_unexpected_error_is_a_500_that_keeps_the_connection():
    """A bug answers 500 with the OGC body, and the client's connection stays usable (Starlette re-raises
    after its own 500, and uvicorn then closes the connection)."""
    app = FastAPI()
    errors.install(app)
    app.add_middleware(errors.ServerErrors)

    @app.get("/bug")
    def bug():
        raise RuntimeError("a bug")

    @app.get("/fine")
    def fine():
        return {"ok": True}

    with serve_in_thread(app) as url, RawConnection(url) as conn:
        conn.send_head("GET", "/bug", {})
        status, headers, body = conn.read_response()
        assert status == 500 and b"ServerError" in body and "close" not in headers.get("connection", "")
        conn.send_head("GET", "/fine", {})
        assert conn.read_response()[0] == 200
