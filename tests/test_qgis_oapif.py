"""QGIS 3.22 (Debian's PyQGIS, headless) opens the defects as an OGC API Features layer and filters them.

QGIS 3.22's OAPIF provider (qgsoapifprovider.cpp, translateNodeToServer) sends a layer's bbox to the
server, evaluates property filters itself after downloading, and turns every comparison of a date
field with a date into `datetime`, with an open start written as year 0000 (answered 400 before, so
the layer came back empty). Which property `datetime` tests is the collection's own (first_seen to
last_seen) unless the layer URL names one with `datetime-property`, which QGIS sends with every request.
QGIS starts once for the whole module (one child process for all the layers).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from _client_filters import bbox_case, filter_cases, filter_store, sql
from _gis_clients import qgis_missing, qgis_run
from _live_api import serve_process

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def qgis_results(tmp_path_factory):
    """Every QGIS layer of this module, opened in one QGIS session: (results by name, cases, db)."""
    why = qgis_missing()
    if why:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("qgis")
    db = filter_store(folder)
    url = serve_process(db, folder / "server.log")
    cases = filter_cases(db)
    box, in_box = bbox_case(db)
    jobs, names = [], []

    def layer(name: str, query: str = "", options: str = "", **job) -> None:
        names.append(name)
        jobs.append({"kind": "vector", "uri": f"url='{url}/{query}' typename='defects'{options}",
                     "id_field": "defect_id", **job})

    layer("plain")
    # "Only request features overlapping the view extent": QGIS sends the view as bbox
    layer("bbox", options=" restrictToRequestBBOX='1'", rect=list(box))
    layer("year 0000 start", subset=next(c.qgis for c in cases if c.name == "last_seen, open start"))
    for case in cases:
        query = f"?datetime-property={case.time_property}" if case.time_property else ""
        layer(case.name, query, subset=case.qgis)
    results = dict(zip(names, qgis_run(jobs)))
    return results, cases, db, in_box


def _items(result) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(u).query) for u in result["urls"] if "/collections/defects/items" in u]


def test_qgis_opens_the_defects_with_the_defect_id_attribute(qgis_results):
    results, _cases, db, _ = qgis_results
    plain = results["plain"]
    assert plain["valid"] and plain["version"].startswith("3."), plain
    assert "defect_id" in plain["fields"] and plain["types"]["defect_id"].lower().startswith("int"), plain["types"]
    assert plain["types"]["updated_at"] == "DateTime" and plain["types"]["last_seen"] == "DateTime"
    assert plain["ids"] == [r[0] for r in sql(db, "SELECT id FROM defects ORDER BY id")]


def test_qgis_bbox_goes_to_the_server_and_counts_what_sql_counts(qgis_results):
    results, _cases, _db, in_box = qgis_results
    got = results["bbox"]
    assert got["count"] == in_box
    assert any("bbox" in q for q in _items(got)), got["urls"]


def test_qgis_open_start_in_year_0000_is_answered(qgis_results):
    """QGIS writes `"last_seen" <= X` as datetime=0000-01-01T00:00:00Z/X; that was a 400 and an empty layer."""
    results, _cases, _db, _ = qgis_results
    got = results["year 0000 start"]
    assert any(q.get("datetime", [""])[0].startswith("0000-01-01T00:00:00Z/") for q in _items(got)), got["urls"]
    assert got["count"] > 0


@pytest.mark.parametrize("name", ["severity", "status", "severity and status (CQL2)", "status in (CQL2 OR)",
                                  "updated_at, open start", "updated_at, open end", "last_seen, open start"])
def test_qgis_filters_count_what_sql_counts(qgis_results, name):
    results, cases, db, _ = qgis_results
    case = next(c for c in cases if c.name == name)
    got = results[name]
    assert got["valid"] and got.get("subset_accepted"), got
    assert got["count"] == case.count(db), (name, got)
    if case.time_property:  # a date filter goes to the server as datetime on the property the layer URL names
        query = _items(got)[-1]
        assert query.get("datetime") and query.get("datetime-property") == [case.time_property], got["urls"]
