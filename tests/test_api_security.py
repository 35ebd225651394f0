"""Security headers, trusted hosts, the public base URL and the map's basemap (issue 15: no security
headers; the Host header was reflected into links; /map?basemap=//other.host/style.json was used)."""

from __future__ import annotations

import httpx
import pytest

from roadscan.api.app import create_app
from roadscan.api.headers import SECURITY_HEADERS
from roadscan.api.hosts import host_name
from roadscan.serve_process import start_server, stop_server

from _api_copy import copy_live_store
from _live_api import serve_in_thread

PUBLIC = "https://roads.example.org/roadscan"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return copy_live_store(tmp_path_factory.mktemp("security"))


@pytest.mark.parametrize("path", ["/", "/map", "/collections/defects/items?f=html", "/collections/nothing",
                                  "/collections/defects/items?bbox=nan", "/openapi.json"])
def test_every_answer_carries_the_security_headers(client, path):
    r = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name.decode()) == value.decode(), (path, name)


def test_a_host_header_naming_another_site_is_refused_not_reflected(client):
    r = client.get("/", headers={"Host": "evil.example"})
    assert r.status_code == 400 and "evil.example" in r.json()["description"]
    assert "--base-url" in r.json()["description"]
    links = client.get("/", headers={"Host": "localhost:1234"}).json()["links"]
    assert all(link["href"].startswith("http://localhost:1234/") for link in links)  # a trusted name


@pytest.mark.parametrize("header, name", [("example.org", "example.org"), ("Example.org:8000", "example.org"),
                                          ("[::1]:8000", "::1"), ("127.0.0.1:1@evil.example", ""),
                                          ("evil.example/path", ""), ("a b", ""), ("", "")])
def test_host_names_are_read_strictly(header, name):
    assert host_name(header) == name


def test_links_use_the_configured_base_url_whatever_the_host_header(db):
    with serve_in_thread(create_app(db, base_url=PUBLIC + "/")) as url, httpx.Client(base_url=url, timeout=60) as c:
        for host in (None, "roads.example.org", "localhost"):
            r = c.get("/collections/defects/items", params={"limit": 1},
                      headers={"Host": host} if host else {})
            assert r.status_code == 200, r.text
            hrefs = [link["href"] for link in r.json()["links"]]
            assert hrefs and all(h.startswith(PUBLIC + "/") for h in hrefs), hrefs
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_trusted_hosts_can_be_added_by_the_environment(db, monkeypatch):
    monkeypatch.setenv("ROADSCAN_TRUSTED_HOSTS", "gis.intra, *.kommune.dk")
    with serve_in_thread(create_app(db)) as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/conformance", headers={"Host": "gis.intra:8000"}).status_code == 200
        assert c.get("/conformance", headers={"Host": "veje.faxe.kommune.dk"}).status_code == 200
        assert c.get("/conformance", headers={"Host": "kommune.dk.evil.example"}).status_code == 400


def test_roadscan_serve_takes_a_base_url(db, tmp_path):
    proc, url = start_server(db, tmp_path / "serve.log", "--base-url", PUBLIC)
    try:
        links = httpx.get(f"{url}/", timeout=60).json()["links"]
    finally:
        stop_server(proc)
    assert all(link["href"].startswith(PUBLIC + "/") for link in links)


def test_a_bad_base_url_is_refused_with_a_message(db):
    from roadscan.core.errors import ConfigError

    with pytest.raises(ConfigError, match="http"):
        create_app(db, base_url="//roads.example.org")


@pytest.mark.parametrize("basemap", ["//other.host/style.json", "/\\other.host/style.json",
                                     "javascript:alert(1)", "https:other.host/style.json"])
def test_a_basemap_on_another_host_without_a_scheme_is_not_used(client, basemap):
    page = client.get("/map", params={"basemap": basemap}).text
    assert '"basemap": null' in page and "other.host" not in page


def test_a_basemap_url_or_local_path_is_used(client):
    for basemap in ("https://tiles.example.org/style.json", "/styles/local.json"):
        assert f'"basemap": "{basemap}"' in client.get("/map", params={"basemap": basemap}).text
