"""Request bodies and uploaded photos (issue 15): a write is authenticated before its body is read, a
body is refused while it streams once over the limit, and a photo's pixels are counted from its
header before anything decodes it (a 2.2 MB JPEG of 12000 x 12000 took the server to 22 GB; a PNG
of 30000 x 30000 answered 500)."""

from __future__ import annotations

import httpx
import pytest

from roadscan.api.app import create_app
from roadscan.api.auth import create_key
from roadscan.api.limits import Limits
from roadscan.api.store.database import open_store
from roadscan.detector.anonymise import PhotoMasker

from _api_copy import copy_live_store
from _bench import load_bench
from _live_api import serve_in_thread
from _photos import encode, plate_scene
from _raw_http import RawConnection

LIMITS = Limits(max_photo_bytes=200_000, max_image_pixels=1_000_000, drain_bytes=1_000_000)
FORM = "multipart/form-data; boundary=xyz"
FORM_HEAD = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
             b"Content-Type: image/jpeg\r\n\r\n")
hostile = load_bench("hostile")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return copy_live_store(tmp_path_factory.mktemp("bodies"))


@pytest.fixture(scope="module")
def key(db):
    with open_store(db) as store:
        return create_key(store, "crew-bodies", "crew")[1]


@pytest.fixture(scope="module")
def url(db):
    with serve_in_thread(create_app(db, limits=LIMITS, photo_masker=PhotoMasker())) as base:
        yield base


def test_an_upload_without_a_key_is_refused_before_its_body_is_read(url):
    """A chunked upload of unknown length: one chunk goes out, and the 401 comes without the rest (it
    used to be spooled to /tmp in full first, 300 MB in 3.4 s)."""
    with RawConnection(url, timeout=30) as conn:
        conn.send_head("POST", "/defects/1/photos", {"Content-Type": FORM, "Transfer-Encoding": "chunked"})
        conn.send_chunk(FORM_HEAD + b"\0" * 65536)
        status, headers, body = conn.read_response()  # the rest of the body never comes
    assert status == 401 and b"API key" in body
    assert headers.get("connection") == "close"  # what is left of an endless body is not waited for


def test_a_wrong_key_is_refused_before_the_body_too(url):
    with RawConnection(url, timeout=30) as conn:
        conn.send_head("POST", "/defects/1/photos", {"Content-Type": FORM, "Content-Length": "50000000",
                                                     "X-API-Key": "rsk_not-a-key"})
        conn.send_chunk(b"")  # nothing of the 50 MB is sent
        assert conn.read_response()[0] == 401


def test_a_chunked_upload_over_the_limit_is_refused_while_it_streams(url, key):
    """With a valid key, the body is counted as it arrives: 413 once over the limit, long before the
    client has sent the 50 MB it meant to (what it got out is the limit, the drain and socket buffers)."""
    body = hostile.Zeros(50_000_000, multipart=True)
    r = httpx.post(f"{url}/defects/1/photos", content=iter(body), timeout=60,
                   headers={"X-API-Key": key, "Content-Type": "multipart/form-data; boundary=hostile"})
    assert r.status_code == 413 and "0.2 MB" in r.json()["description"], r.text
    assert body.sent < 20_000_000, body.sent


def test_a_status_body_over_its_limit_is_413(url, key):
    r = httpx.post(f"{url}/defects/1/status", json={"status": "fixed", "note": "x" * 100_000},
                   headers={"X-API-Key": key}, timeout=60)
    assert r.status_code == 413 and r.json()["code"] == "PayloadTooLarge"


@pytest.mark.parametrize("spec, words", [
    ({"image": "jpeg", "size": [2000, 1000]}, "2000 x 1000 pixels (2 MP); at most 1 MP"),
    ({"image": "png", "size": [12000, 12000]}, "12000 x 12000 pixels (144 MP)"),
    ({"header_only": "jpeg", "size": [12000, 12000]}, "12000 x 12000 pixels"),
    ({"header_only": "png", "size": [30000, 30000]}, "more pixels than the 1 MP accepted"),
])
def test_a_photo_with_too_many_pixels_is_refused_from_its_header(url, key, spec, words):
    name, data, mime = hostile.image_file(spec)
    r = httpx.post(f"{url}/defects/1/photos", files={"file": (name, data, mime)}, headers={"X-API-Key": key},
                   timeout=120)
    assert r.status_code == 413 and words in r.json()["description"], r.text


def test_a_photo_within_the_pixel_limit_is_stored(url, key):
    image, _ = plate_scene(size=(640, 480))
    r = httpx.post(f"{url}/defects/1/photos", files={"file": ("p.jpg", encode(image), "image/jpeg")},
                   headers={"X-API-Key": key}, timeout=120)
    assert r.status_code == 201, r.text
    assert (r.json()["width"], r.json()["height"]) == (640, 480)
