"""Crew writes over HTTP: status updates with history (and a later survey reopening a fixed defect),
photo uploads checked by content and size and stored only anonymised, evidence images served by id
only, exports as downloads."""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime, timezone

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from roadscan.api.app import create_app
from roadscan.api.auth import create_key
from roadscan.api.limits import Limits
from roadscan.api.store.database import open_store
from roadscan.cli import app as cli_app
from roadscan.detector.anonymise import PhotoMasker

from _api_copy import copy_live_store
from _live_api import serve_in_thread
from _photos import decode, encode, is_flat, plate_scene

SMALL_LIMIT = 200_000  # the photo size cap the server under test runs with


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return copy_live_store(tmp_path_factory.mktemp("status"))


@pytest.fixture(scope="module")
def key(db):
    with open_store(db) as store:
        return create_key(store, "crew-south", "crew")[1]


@pytest.fixture(scope="module")
def crew(db, key):
    with serve_in_thread(create_app(db, limits=Limits(max_photo_bytes=SMALL_LIMIT), photo_masker=PhotoMasker())) as url, \
            httpx.Client(base_url=url, timeout=60, headers={"X-API-Key": key}) as c:
        yield c


def image_bytes(fmt="JPEG", size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, format=fmt)
    return buf.getvalue()


def photo_files(db) -> set:
    folder = db.with_name(db.stem + "-images") / "photos"
    return set(folder.glob("*")) if folder.is_dir() else set()


def status(client, defect_id, value, note=None, **extra):
    return client.post(f"/defects/{defect_id}/status", json={"status": value, "note": note, **extra})


def test_status_update_sticks_and_is_in_the_history(crew, db):
    r = status(crew, 4, "scheduled", "crew booked for Tuesday")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "scheduled"
    history = crew.get("/defects/4/history").json()
    assert history["status"] == "scheduled"
    first, last = history["history"][0], history["history"][-1]
    assert first["status"] == "open" and first["survey_id"] == 1  # found by the survey
    assert last == {**last, "status": "scheduled", "note": "crew booked for Tuesday", "by": "crew-south",
                    "survey_id": None}
    assert last["at"].endswith(("+00:00", "Z"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("select status from defects where id = 4").fetchone()[0] == "scheduled"
    item = crew.get("/collections/defects/items/4").json()
    assert item["properties"]["status"] == "scheduled"


def test_by_names_the_person_and_keeps_the_key(crew):
    status(crew, 5, "dismissed", "not a defect: a manhole", by="Mette")
    assert crew.get("/defects/5/history").json()["history"][-1]["by"] == "Mette (key crew-south)"


@pytest.mark.parametrize("body", [{"status": "not re-observed"}, {"status": "done"}, {}, {"status": "fixed", "note": "x" * 3000}])
def test_bad_status_is_400(crew, body):
    r = crew.post("/defects/6/status", json=body)
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameterValue"


def test_unknown_defect_is_404(crew):
    for r in (status(crew, 999, "fixed"), crew.get("/defects/999/history"), crew.get("/defects/999/image"),
              crew.post("/defects/999/photos", files={"file": ("a.jpg", image_bytes(), "image/jpeg")})):
        assert r.status_code == 404 and r.json()["code"] == "NotFound"


def test_a_later_survey_reopens_a_fixed_defect(crew, db, tmp_path):
    from roadscan.geo.roads import load_network
    from roadscan.pipeline import ProcessOptions, process_survey
    from roadscan.sample import make_sample_drive
    from roadscan.sample.oracle import TruthDetector

    assert status(crew, 1, "fixed", "patched").status_code == 200
    again = make_sample_drive(tmp_path / "again", length_m=250.0, gps_noise_m=1.0)
    with open_store(db) as store:
        summary = process_survey(again.video, again.gpx, store, ProcessOptions(camera="sample-drive"),
                                 detector=TruthDetector(again.boxes()), network=load_network(again.roads))
    assert summary.defects.reopened >= 1
    history = crew.get("/defects/1/history").json()
    assert history["status"] == "open"
    statuses = [(h["status"], h["by"]) for h in history["history"]]
    assert statuses[-2:] == [("fixed", "crew-south"), ("open", f"survey {summary.survey_id}")]
    assert "reopened" in history["history"][-1]["note"]


def test_photo_upload_jpeg_and_png(crew, db):
    for fmt, name, ctype in (("JPEG", "after.jpg", "image/jpeg"), ("PNG", "sketch.png", "image/png")):
        r = crew.post("/defects/3/photos", files={"file": (name, image_bytes(fmt), "application/octet-stream")},
                      data={"note": "after the repair"})
        assert r.status_code == 201, r.text
        photo = r.json()
        assert photo["content_type"] == ctype and (photo["width"], photo["height"]) == (64, 48)
        assert photo["by"] == "crew-south" and photo["note"] == "after the repair"
        assert photo["anonymised"] == {**photo["anonymised"], "mode": "detect", "faces": 0, "plates": 0}
        served = crew.get(photo["href"])
        assert served.status_code == 200 and served.headers["content-type"] == ctype
        assert Image.open(io.BytesIO(served.content)).format == fmt
    listed = crew.get("/defects/3/photos").json()
    assert len(listed) == 2
    with sqlite3.connect(db) as conn:
        paths = [p for (p,) in conn.execute("select path from defect_photos where defect_id = 3")]
    images = db.with_name(db.stem + "-images")
    assert all(p.startswith("photos/") and (images / p).is_file() for p in paths)
    assert not any(name in p for p in paths for name in ("after", "sketch"))  # names are generated


def test_photo_too_big_is_413_and_not_an_image_is_415(crew, db):
    before = photo_files(db)
    big = crew.post("/defects/3/photos", files={"file": ("big.jpg", b"\xff\xd8" + b"0" * SMALL_LIMIT, "image/jpeg")})
    assert big.status_code == 413 and big.json()["code"] == "PayloadTooLarge"
    huge = crew.post("/defects/3/photos", files={"file": ("huge.jpg", b"\xff\xd8" + b"0" * (4 * SMALL_LIMIT), "image/jpeg")})
    assert huge.status_code == 413 and "0.2 MB" in huge.json()["description"]  # refused before it is read
    for name, content in (("notes.jpg", b"this is not an image"), ("page.png", b"<html></html>"),
                          ("anim.gif", b"GIF89a" + image_bytes("GIF")[6:])):
        r = crew.post("/defects/3/photos", files={"file": (name, content, "image/jpeg")})
        assert r.status_code == 415 and r.json()["code"] == "UnsupportedMediaType", name
    assert photo_files(db) == before


def test_an_uploaded_number_plate_is_stored_and_served_masked(crew, db):
    scene, (x1, y1, x2, y2) = plate_scene()
    r = crew.post("/defects/2/photos", files={"file": ("car.jpg", encode(scene), "image/jpeg")})
    assert r.status_code == 201, r.text
    photo = r.json()
    assert photo["anonymised"]["plates"] >= 1 and photo["anonymised"]["mode"] == "detect"
    served = crew.get(photo["href"])
    assert served.status_code == 200
    with sqlite3.connect(db) as conn:
        path, size = conn.execute("select path, bytes from defect_photos where id = ?", (photo["id"],)).fetchone()
    assert served.content == (db.with_name(db.stem + "-images") / path).read_bytes() and size == len(served.content)
    after, before = decode(served.content), np.asarray(scene).astype(int)
    assert is_flat(after[y1:y2, x1:x2]) and not is_flat(before[y1:y2, x1:x2])
    away = (slice(0, scene.height // 3), slice(scene.width // 2, scene.width))  # far from the car
    assert np.abs(after[away] - before[away]).mean() < 3
    listed = {p["id"]: p for p in crew.get("/defects/2/photos").json()}
    assert listed[photo["id"]]["anonymised"] == photo["anonymised"]


def test_a_server_that_cannot_anonymise_refuses_photos(db, key):
    before = photo_files(db)
    with TestClient(create_app(db), headers={"X-API-Key": key}) as client:
        r = client.post("/defects/3/photos", files={"file": ("after.jpg", image_bytes(), "image/jpeg")})
        documented = client.get("/openapi.json").json()["paths"]["/defects/{defect_id}/photos"]["post"]["responses"]
    assert r.status_code == 503 and r.json()["code"] == "ServiceUnavailable"
    assert "anonymise" in r.json()["description"] and "roadscan serve" in r.json()["description"]
    assert photo_files(db) == before and "503" in documented


def test_serve_turns_photo_uploads_off_with_a_warning_without_a_face_detector(monkeypatch, capsys):
    import roadscan.detector.anonymise as anonymise
    from roadscan.cli import _photo_masker

    assert isinstance(_photo_masker(), PhotoMasker)
    monkeypatch.setattr(anonymise, "_mtcnn_weights", lambda: None)
    assert _photo_masker() is None
    assert "photo uploads are off" in capsys.readouterr().err


def test_a_photo_stored_before_anonymisation_is_served_only_after_roadscan_anonymise(crew, db):
    scene, (x1, y1, x2, y2) = plate_scene(seed=7)
    images = db.with_name(db.stem + "-images")
    (images / "photos").mkdir(exist_ok=True)
    (images / "photos" / "old.jpg").write_bytes(encode(scene))
    with sqlite3.connect(db) as conn:  # as a schema 3 store holds it (the migration leaves it NULL)
        photo_id = conn.execute("insert into defect_photos (defect_id, path, content_type, bytes, width, height, "
                                "note, \"by\", at) values (6, 'photos/old.jpg', 'image/jpeg', 1, 640, 480, null, "
                                "'crew-south', ?)", (datetime.now(timezone.utc).isoformat(),)).lastrowid
    refused = crew.get(f"/defects/6/photos/{photo_id}")
    assert refused.status_code == 404 and "roadscan anonymise" in refused.json()["description"]
    assert crew.get("/defects/6/photos").json()[-1]["anonymised"] is None

    runner = CliRunner()
    first = runner.invoke(cli_app, ["anonymise", "--db", str(db)])
    assert first.exit_code == 0, first.output
    assert "crews' photos" in first.output
    served = crew.get(f"/defects/6/photos/{photo_id}")
    assert served.status_code == 200
    assert is_flat(decode(served.content)[y1:y2, x1:x2])
    listed = crew.get("/defects/6/photos").json()[-1]
    assert listed["anonymised"]["plates"] >= 1 and listed["bytes"] == len(served.content)

    again = runner.invoke(cli_app, ["anonymise", "--db", str(db)])
    assert again.exit_code == 0 and "crews' photos" not in again.output
    assert crew.get(f"/defects/6/photos/{photo_id}").content == served.content


def test_evidence_image_is_the_defects_frame_as_jpeg(crew, db):
    r = crew.get("/defects/2/image")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    plain = Image.open(io.BytesIO(r.content))
    assert plain.format == "JPEG"
    with sqlite3.connect(db) as conn:
        path, w, h = conn.execute("select f.image_path, f.width, f.height from defects d join observations o "
                                  "on o.id = d.evidence_observation_id join frames f on f.id = o.frame_id "
                                  "where d.id = 2").fetchone()
    assert plain.size == (w, h)
    assert r.content == (db.with_name(db.stem + "-images") / path).read_bytes()
    boxed = crew.get("/defects/2/image", params={"box": "true"})
    assert boxed.status_code == 200 and Image.open(io.BytesIO(boxed.content)).size == (w, h)
    assert boxed.content != r.content


def test_image_paths_cannot_leave_the_image_folder(crew, db):
    secret = db.parent / "secret.jpg"
    secret.write_bytes(image_bytes())
    with sqlite3.connect(db) as conn:  # a tampered row pointing outside the image folder
        frame = conn.execute("select o.frame_id from defects d join observations o on o.id = d.evidence_observation_id "
                             "where d.id = 7").fetchone()[0]
        conn.execute("update frames set image_path = '../secret.jpg' where id = ?", (frame,))
        frame8 = conn.execute("select o.frame_id from defects d join observations o on o.id = d.evidence_observation_id "
                              "where d.id = 8").fetchone()[0]
        conn.execute("update frames set image_path = ? where id = ?", (str(secret), frame8))
    for defect in (7, 8):
        r = crew.get(f"/defects/{defect}/image")
        assert r.status_code == 404 and r.json()["code"] == "NotFound"
    for path in ("/defects/..%2F..%2Fsecret.jpg/image", "/defects/../../secret.jpg", "/defects/1%2F..%2F..%2Fapi.db/image"):
        r = crew.get(path)
        assert r.status_code in (400, 404) and r.content != secret.read_bytes()


def test_export_downloads_gpkg_and_csv_with_filters(crew, tmp_path):
    r = crew.get("/collections/defects/export", params={"format": "gpkg"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.headers["content-disposition"].endswith('.gpkg"')
    path = tmp_path / "defects.gpkg"
    path.write_bytes(r.content)
    everything = gpd.read_file(path, layer="defects")
    assert len(everything) == 8 and everything.crs.to_epsg() == 4326
    assert {"name", "priority", "status", "priority_breakdown"} <= set(everything.columns)
    assert len(gpd.read_file(path, layer="segment_condition"))

    r = crew.get("/collections/defects/export", params={"format": "csv", "class": "D40,D20", "min_severity": 1})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(r.text))
    assert set(table["code"]) == {"D40", "D20"} and {"lat", "lon", "name"} <= set(table.columns)
    assert len(table) == (everything["code"].isin(["D40", "D20"])).sum()
    bad = crew.get("/collections/defects/export", params={"format": "shp"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameterValue"
    assert crew.get("/collections/defects/export", params={"class": "D99"}).status_code == 400


def test_ids_beyond_the_stores_integer_range_are_refused_not_overflowed(crew):
    for path in ("/defects/99999999999999999999/history", "/defects/99999999999999999999/image",
                 "/defects/1/photos/99999999999999999999"):
        r = crew.get(path)
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameterValue", (path, r.text)
