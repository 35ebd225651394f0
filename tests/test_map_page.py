"""The map page: served assets (no CDN), the summary JSON, and end-to-end runs in headless Chromium.

The browser tests drive Debian's `chromium` (/usr/bin/chromium; `apt-get install chromium`) with
Playwright and the system browser (never `playwright install`); they skip when either is missing.
They run against a private copy of the sample store served with a crew key and a PMTiles basemap
(`roadscan serve --basemap`), and fail on any request that leaves this server: the map has context
offline (the stored roads with their names as labels, no glyph download).
"""

from __future__ import annotations

import atexit
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest
import shapely
from _api_copy import copy_live_store
from _browser import chromium, rendered_ids, wait_ready, wait_rendered
from roadscan.serve_process import start_server, stop_server


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
    assert '"basemap": null' in client.get("/map").text and '"pmtiles": null' in client.get("/map").text
    assert client.get("/map/basemap.pmtiles").status_code == 404  # none given at serve
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


# -- a PMTiles basemap and a private server ------------------------------------------------------------


def write_pmtiles(path: Path, bounds: tuple[float, float, float, float], zooms=range(12, 17)) -> Path:
    """A small vector PMTiles basemap: one 'landuse' polygon over the box, in every tile of these zooms."""
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    from roadscan.api.tiles import EXTENT, TileAddress, tile_for

    west, south, east, north = bounds
    with write(str(path)) as writer:
        for z in zooms:
            (x0, y0), (x1, y1) = tile_for(west, north, z), tile_for(east, south, z)
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    tile = TileAddress(z, x, y)
                    polygon = shapely.box(-64, -64, EXTENT + 64, EXTENT + 64)  # the whole tile, in tile units
                    data = mapbox_vector_tile.encode([{"name": "landuse", "features": [
                        {"geometry": polygon, "properties": {"kind": "residential"}, "id": 1}]}],
                        default_options={"y_coord_down": True, "extents": EXTENT})
                    assert tile.z == z
                    writer.write_tile(zxy_to_tileid(z, x, y), gzip.compress(data, mtime=0))
        writer.finalize({"tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
                         "min_lon_e7": int(west * 1e7), "min_lat_e7": int(south * 1e7),
                         "max_lon_e7": int(east * 1e7), "max_lat_e7": int(north * 1e7), "center_zoom": 15},
                        {"vector_layers": [{"id": "landuse", "fields": {"kind": "String"}}]})
    return path


@dataclass(frozen=True)
class Site:
    url: str
    db: Path
    key: str  # a crew key


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The sample store (a private copy) served with a crew key and a PMTiles basemap around its roads."""
    pytest.importorskip("pmtiles", reason="the pmtiles package (test extra) writes the basemap file")
    from roadscan.api.auth import create_key
    from roadscan.api.store.database import open_store
    from roadscan.api.store.tiles import road_lines

    folder = tmp_path_factory.mktemp("map-site")
    db = copy_live_store(folder)
    with open_store(db) as store:
        _, key = create_key(store, "crew-map-test", "crew")
        lines = shapely.from_wkt([r.geometry_wkt for r in road_lines(store)])
    west, south, east, north = shapely.total_bounds(lines)
    basemap = write_pmtiles(folder / "basemap.pmtiles", (west - 0.01, south - 0.01, east + 0.01, north + 0.01))
    proc, url = start_server(db, folder / "server.log", "--basemap", str(basemap))
    atexit.register(stop_server, proc)
    yield Site(url, db, key)
    stop_server(proc)


@pytest.fixture(scope="module")
def site_client(site):
    with httpx.Client(base_url=site.url, timeout=30) as c:
        yield c


def test_pmtiles_basemap_is_served_with_range_requests(site, site_client):
    whole = site_client.get("/map/basemap.pmtiles")
    assert whole.status_code == 200 and whole.content.startswith(b"PMTiles\x03")
    part = site_client.get("/map/basemap.pmtiles", headers={"Range": "bytes=0-126"})
    assert part.status_code == 206 and part.content == whole.content[:127]
    assert '"pmtiles": "/map/basemap.pmtiles"' in site_client.get("/map").text


def test_serve_refuses_a_basemap_that_is_not_pmtiles(tmp_path):
    from roadscan.api.map_page import pmtiles_file
    from roadscan.core.errors import ConfigError

    bad = tmp_path / "basemap.pmtiles"
    bad.write_bytes(b"not a pmtiles archive")
    with pytest.raises(ConfigError, match="not a PMTiles"):
        pmtiles_file(bad)
    with pytest.raises(ConfigError, match="is not a file"):
        pmtiles_file(tmp_path / "missing.pmtiles")


# -- in the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _open(browser, site: Site, path: str = "/map", **viewport):
    """A page on the map with every request recorded; fails later on any request that left the server."""
    page = browser.new_page(viewport={"width": 1280, "height": 800, **viewport})
    seen = {"external": [], "errors": [], "responses": []}
    page.on("request", lambda req: None if req.url.startswith((site.url, "data:", "blob:"))
            else seen["external"].append(req.url))
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.on("response", lambda r: seen["responses"].append((r.url, r.status)))
    page.goto(f"{site.url}{path}")
    wait_ready(page)
    return page, seen


def _click_defect(page, defect_id: int) -> None:
    point = page.evaluate(f"""() => {{
        const f = window.roadscanMap.queryRenderedFeatures({{layers: ['defects']}}).find(f => f.properties.id === {defect_id});
        const p = window.roadscanMap.project(f.geometry.coordinates);
        const r = window.roadscanMap.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""")
    page.mouse.click(*point)


def test_map_draws_the_road_basemap_with_street_labels_offline(site, site_client, browser, tmp_path_factory):
    page, seen = _open(browser, site)
    from roadscan.api.store.database import open_store
    from roadscan.api.store.tiles import road_lines

    with open_store(site.db) as store:
        names = {r.name for r in road_lines(store) if r.name}
    assert names, "the sample network has named streets"
    page.wait_for_function("() => window.roadscanMap.queryRenderedFeatures({layers: ['roads-label']}).length > 0",
                           timeout=15_000)
    labels = set(page.evaluate("() => window.roadscanMap.queryRenderedFeatures({layers: ['roads-label']})"
                               ".map(f => f.properties.name)"))
    assert labels and labels <= names
    assert page.evaluate("() => window.roadscanMap.queryRenderedFeatures({layers: ['roads']}).length") > 0
    # the PMTiles basemap under the roads, read with range requests through the pmtiles protocol
    assert page.evaluate("() => window.roadscanMap.queryRenderedFeatures({layers: ['basemap-fill-landuse']}).length") > 0
    assert any(url.endswith("/map/basemap.pmtiles") and status == 206 for url, status in seen["responses"])
    # nothing from elsewhere, no glyph (font) download, no error
    assert not seen["external"], seen["external"]
    assert not [u for u, _ in seen["responses"] if "/fonts/" in u or u.endswith(".pbf")]
    assert not seen["errors"], seen["errors"]
    assert page.evaluate("() => window.roadscanMap.getStyle().glyphs") is None
    shot = tmp_path_factory.getbasetemp() / "map-basemap-with-labels.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
    page.close()


def test_clicking_the_top_priority_defect_opens_its_own_popup(site, site_client, browser):
    """Zoomed out, the symbols overlap: the most urgent is drawn on top and is the one a click opens."""
    page, _seen = _open(browser, site)
    top = site_client.get("/collections/defects/items", params={"limit": 1}).json()["features"][0]  # priority order
    style = site_client.get("/tiles/style.json").json()
    defects_layer = next(layer for layer in style["layers"] if layer["id"] == "defects")
    assert defects_layer["layout"]["circle-sort-key"] == ["get", "priority"]
    lon, lat = top["geometry"]["coordinates"]
    page.evaluate(f"() => window.roadscanMap.jumpTo({{center: [{lon}, {lat}], zoom: 12}})")
    wait_ready(page)
    under = page.evaluate(f"""() => {{
        const p = window.roadscanMap.project([{lon}, {lat}]);
        return window.roadscanMap.queryRenderedFeatures(p, {{layers: ['defects']}}).map(f => f.properties.id);
    }}""")
    assert top["id"] in under and len(set(under)) > 1, under  # others lie under the pointer too
    _click_defect(page, top["id"])
    page.locator(f".maplibregl-popup .popup[data-id='{top['id']}'] .facts").wait_for(timeout=15_000)
    assert page.locator(".maplibregl-popup .popup").get_attribute("data-id") == str(top["id"])
    page.close()


def test_popup_fits_at_zoom_18_and_a_crew_key_sets_the_status(site, site_client, browser):
    page, seen = _open(browser, site)
    top = site_client.get("/collections/defects/items", params={"limit": 1}).json()["features"][0]
    lon, lat = top["geometry"]["coordinates"]
    # the defect near the top edge of the map at zoom 18, where the popup's top was cut off
    page.evaluate(f"""() => {{
        const map = window.roadscanMap;
        map.jumpTo({{center: [{lon}, {lat}], zoom: 18}});
        map.panBy([0, map.getContainer().clientHeight / 2 - 40], {{duration: 0}});
    }}""")
    wait_ready(page)
    _click_defect(page, top["id"])
    popup = page.locator(f".maplibregl-popup .popup[data-id='{top['id']}'] .facts")
    popup.wait_for(timeout=15_000)
    if site_client.get(f"/defects/{top['id']}/image").status_code == 200:
        page.wait_for_function("() => document.querySelector('.maplibregl-popup img.evidence').complete "
                               "&& document.querySelector('.maplibregl-popup img.evidence').naturalWidth > 0")
        assert any(f"/defects/{top['id']}/image?box=true" in u for u, _ in seen["responses"])
    page.wait_for_timeout(300)
    inside = page.evaluate("""() => {
        const p = document.querySelector('.maplibregl-popup').getBoundingClientRect();
        const m = window.roadscanMap.getContainer().getBoundingClientRect();
        return [p.top >= m.top, p.bottom <= m.bottom, p.left >= m.left, p.right <= m.right];
    }""")
    assert inside == [True, True, True, True], inside
    text = page.inner_text(".maplibregl-popup")
    props = top["properties"]
    assert f"#{top['id']}" in text and props["name"] in text
    assert f"{props['chainage_m']:.1f} m" in text and props["side"] in text
    assert f"{props['width_m']:.2f} × {props['length_m']:.2f} m" in text
    assert f"{lat:.6f}, {lon:.6f}" in text

    # the status control: a crew key, a triage status and a service request reference
    page.select_option(".maplibregl-popup select[name=status]", "verified")
    page.fill(".maplibregl-popup input[name=external_ref]", "SR-2026-0042")
    page.fill(".maplibregl-popup input[name=key]", site.key)
    page.click(".maplibregl-popup .status-form button[type=submit]")
    page.wait_for_function("() => /verified/.test(document.querySelector('.maplibregl-popup .status')?.textContent || '')",
                           timeout=15_000)
    stored = site_client.get(f"/collections/defects/items/{top['id']}").json()["properties"]
    assert stored["status"] == "verified" and stored["external_ref"] == "SR-2026-0042"
    assert "SR-2026-0042" in page.inner_text(".maplibregl-popup")
    page.close()


def test_map_in_chromium_matches_the_api_and_opens_a_popup(site, site_client, browser, tmp_path):
    api, client = site, site_client
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
    popup = page.locator(f".maplibregl-popup .popup[data-id='{target}'] .facts")
    popup.wait_for(timeout=15_000)
    text = page.inner_text(".maplibregl-popup")
    item = client.get(f"/collections/defects/items/{target}").json()["properties"]
    assert item["name"] in text and f"{item['priority']:g}" in page.inner_text(".maplibregl-popup .priority")
    breakdown = page.text_content(".maplibregl-popup .breakdown")  # folded away under "Priority breakdown"
    for term in item["priority_breakdown"]:
        assert term in breakdown
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
