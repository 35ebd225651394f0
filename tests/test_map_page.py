"""The map page: served assets (no CDN), the summary JSON, and an end-to-end run in headless Chromium.

The browser test drives Debian's `chromium` (/usr/bin/chromium; `apt-get install chromium`) with
Playwright and the system browser (never `playwright install`); it skips when either is missing.
"""

from __future__ import annotations

import re

import pytest
from _browser import chromium, rendered_ids, wait_ready, wait_rendered


@pytest.mark.parametrize("page", ["/map", "/docs"])
def test_map_and_api_docs_pages_load_only_from_this_server(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="([^"#]+)"', r.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for u in urls:
        asset = client.get(u)
        assert asset.status_code == 200, u
        assert b"https://unpkg" not in asset.content and b"cdn.jsdelivr" not in asset.content
    script = {"/map": "/map/static/vendor/maplibre-gl.js", "/docs": "/map/static/vendor/swagger-ui/swagger-ui-bundle.js"}
    js = client.get(script[page])
    assert "javascript" in js.headers["content-type"] and len(js.content) > 100_000
    if page == "/docs":  # Swagger UI would otherwise send the API definition to validator.swagger.io
        assert '"validatorUrl": null' in r.text


def test_map_static_refuses_paths_outside_its_folder(client):
    assert client.get("/map/static/../tiles.py").status_code == 404
    assert client.get("/map/static/%2e%2e/tiles.py").status_code == 404
    assert client.get("/map/static/nothing.js").status_code == 404


def test_basemap_is_configurable_and_optional(client):
    assert '"basemap": null' in client.get("/map").text
    page = client.get("/map", params={"basemap": "https://tiles.example.org/{z}/{x}/{y}.png"}).text
    assert "https://tiles.example.org/{z}/{x}/{y}.png" in page
    assert '"basemap": null' in client.get("/map", params={"basemap": "javascript:alert(1)"}).text


def test_summary_counts_defects_by_class_and_status_and_km_by_condition(client):
    everything = client.get("/map/summary").json()
    items = client.get("/collections/defects/items", params={"limit": 1}).json()
    assert everything["defects"] == items["numberMatched"] > 0
    assert sum(c["count"] for c in everything["by_class"]) == everything["defects"]
    assert sum(everything["by_status"].values()) == everything["defects"]
    assert everything["road_km"] > 0 and {c["condition"] for c in everything["condition"]} - {None} <= {1, 2, 3, 4, 5}
    code = everything["by_class"][0]["code"]
    one = client.get("/map/summary", params={"class": code}).json()
    assert one["defects"] == everything["by_class"][0]["count"] == \
        client.get("/collections/defects/items", params={"class": code, "limit": 1}).json()["numberMatched"]
    bad = client.get("/map/summary", params={"class": "D99"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameterValue"


# -- in the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_map_in_chromium_matches_the_api_and_opens_a_popup(api, client, browser, tmp_path):
    external: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("request", lambda req: None if req.url.startswith((api.url, "data:", "blob:")) else external.append(req.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{api.url}/map")
    wait_ready(page)
    assert not errors, errors
    assert not external, f"the page loaded from elsewhere: {external}"

    # everything in view: the page fits the data's extent
    total = client.get("/collections/defects/items", params={"limit": 1}).json()["numberMatched"]
    wait_rendered(page, total)
    assert len(rendered_ids(page)) == total
    assert page.evaluate("() => window.roadscanMap.queryRenderedFeatures({layers: ['condition']}).length") > 0

    # one class only: the layer filter and the API agree
    code = client.get("/map/summary").json()["by_class"][0]["code"]
    expected = {f["id"] for f in client.get("/collections/defects/items", params={"class": code}).json()["features"]}
    for box in page.query_selector_all("input[name=class]"):
        if box.get_attribute("value") != code:
            box.uncheck()
    page.wait_for_function(f"() => document.getElementById('list-count').dataset.matched == '{len(expected)}'",
                           timeout=15_000)
    wait_ready(page)
    wait_rendered(page, len(expected))
    assert rendered_ids(page) == expected
    assert page.locator("#list li[data-id]").count() == len(expected)
    assert f"{len(expected)} defects match" in page.inner_text("#summary")
    assert f"class={code}" in page.get_attribute("#dl-csv", "href")

    # click a defect: the popup shows its image, priority breakdown and history
    target = min(expected)
    point = page.evaluate(f"""() => {{
        const f = window.roadscanMap.queryRenderedFeatures({{layers: ['defects']}}).find(f => f.properties.id === {target});
        const p = window.roadscanMap.project(f.geometry.coordinates);
        const r = window.roadscanMap.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""")
    page.mouse.click(*point)
    popup = page.locator(f".maplibregl-popup .popup[data-id='{target}'] .breakdown")
    popup.wait_for(timeout=15_000)
    text = page.inner_text(".maplibregl-popup")
    item = client.get(f"/collections/defects/items/{target}").json()["properties"]
    assert item["name"] in text and f"Priority {item['priority']:g}" in text
    for term in item["priority_breakdown"]:
        assert term in text
    assert "History" in text
    img = page.locator(".maplibregl-popup img.evidence")
    if client.get(f"/defects/{target}/image").status_code == 200:
        img.wait_for(timeout=10_000)
        page.wait_for_function("() => document.querySelector('.maplibregl-popup img.evidence').complete")
        assert page.evaluate("() => document.querySelector('.maplibregl-popup img.evidence').naturalWidth") > 0

    # a survey date range after every sighting: nothing on the map, nothing in the list, as the API says
    page.fill("#f-from", "2099-01-01")
    page.dispatch_event("#f-from", "change")
    page.wait_for_function("() => document.getElementById('list-count').dataset.matched === '0'", timeout=15_000)
    assert client.get("/collections/defects/items", params={"datetime": "2099-01-01/.."}).json()["numberMatched"] == 0
    wait_rendered(page, 0)
    assert rendered_ids(page) == set()
    page.fill("#f-from", "")
    page.dispatch_event("#f-from", "change")

    shot = tmp_path / "map.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")
    page.close()
