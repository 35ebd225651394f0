"""A fuzzing harness on the CQL2 front end (issue 15: one filter segfaulted the server, others were 500s).

Hypothesis builds filters from CQL2's own words and symbols (nesting, boolean chains, every kind of
literal, huge and non-finite numbers, year-9999 dates, geometry literals, stray quotes and bytes),
deeply nested ones, arbitrary text, and CQL2 JSON trees; each goes through the whole front end as a
request does (size and nesting limits, the parser in its child process, the SQL translation, a query on
a real SQLite store). Every one must end in features or a FilterError / 400, never another error and
never a crash. Bounded: a fixed number of examples each, a few seconds in all.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roadscan.api.limits import Limits
from roadscan.api.ogc import cql2
from roadscan.api.ogc.collections import COLLECTIONS, ItemsQuery
from roadscan.api.ogc.errors import OGCError
from roadscan.api.store.cql2_sql import FilterError
from roadscan.api.store.database import open_store

from _bench import load_bench

LIMITS = Limits()
FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

WORDS = ["(", ")", "NOT", "AND", "OR", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", ",", "severity", "status",
         "road_name", "road_class", "first_seen", "id", "priority", "geometry", "nothing", "'open'", "'x''y'", "''",
         "1", "0", "-1", "2.5", "1e400", "-1e400", "1e23", "99999999999999999999999", "9223372036854775808",
         "CASEI(", "ACCENTI(", "LIKE", "'%a_%'", "IN", "BETWEEN", "IS", "NULL", "TRUE", "false",
         "DATE('9999-12-31')", "DATE('0000-01-01')", "DATE('2026-02-30')", "TIMESTAMP('2026-01-01T00:00:00Z')",
         "TIMESTAMP('9999-12-31T23:59:59-01:00')", "INTERVAL('..','..')", "S_INTERSECTS(", "S_WITHIN(",
         "BBOX(", "POINT(", "POLYGON((", "MULTIPOINT(", "GEOMETRYCOLLECTION(", "0 0", "1 1", "10.4 55.4",
         "f(", '"', "'", "\x00", "é", "🦀", ";", "--", "/*"]
NESTERS = ["(", "NOT ", "-", "CASEI(", "f(", "GEOMETRYCOLLECTION(", "((", "NOT (", "- -"]
BASES = ["severity = 1", "severity =", "road_name = 'a'", "1", "S_INTERSECTS(geometry, POINT(10.4 55.4))", "status IN ('open')"]
OPS = ["=", "<>", "<", ">=", "and", "or", "not", "like", "in", "between", "isnull", "casei", "s_intersects",
       "t_intersects", "a_contains", "+", "sleep"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    load_bench("api").build_store(db, 500)
    with open_store(db) as opened:
        yield opened


def front_end(store, text: str, lang: str = "cql2-text") -> str:
    """What a request with this filter gets: 'features' or 'refused'; anything else fails the test."""
    try:
        expr = cql2.parse(text, lang, LIMITS)
    except FilterError:
        return "refused"
    try:
        COLLECTIONS["defects"].items(store, ItemsQuery(filter=expr, limit=5))
    except OGCError as exc:
        assert exc.status == 400, exc.description
        return "refused"
    return "features"


@FUZZ
@given(words=st.lists(st.sampled_from(WORDS), max_size=40))
def test_filters_of_cql2_words(store, words):
    front_end(store, " ".join(words))


@FUZZ
@given(nester=st.sampled_from(NESTERS), depth=st.integers(0, 5000), base=st.sampled_from(BASES))
def test_deeply_nested_filters(store, nester, depth, base):
    closing = ")" * (nester.count("(") * depth)
    assert front_end(store, nester * depth + base + closing) == "refused" or depth <= LIMITS.max_filter_depth


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text(store, text):
    front_end(store, text)


def _json_trees():
    leaf = st.one_of(st.integers(), st.floats(), st.text(max_size=10), st.booleans(), st.none(),
                     st.sampled_from([{"property": "severity"}, {"property": "first_seen"}, {"property": "nothing"},
                                      {"date": "9999-12-31"}, {"timestamp": "0001-01-01T00:00:00+01:00"},
                                      {"bbox": [1, 2, 3, 4]}, {"type": "Point", "coordinates": [1e400, 0]}]))
    return st.recursive(leaf, lambda kids: st.one_of(
        st.builds(lambda op, args: {"op": op, "args": args}, st.sampled_from(OPS), st.lists(kids, max_size=4)),
        st.lists(kids, max_size=4)), max_leaves=30)


@FUZZ
@given(tree=_json_trees())
def test_cql2_json_trees(store, tree):
    front_end(store, json.dumps(tree), "cql2-json")
