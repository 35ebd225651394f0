"""No un-anonymised image is written to the store or served: the pipeline masks before it saves,
`roadscan anonymise` masks an older store's frames and crews' photos in place (once), and the image and
photo routes refuse what is not recorded as anonymised. (Uploads: tests/test_api_status.py.)"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from datetime import datetime, timezone

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from roadscan.api.app import create_app
from roadscan.api.store.database import open_store
from roadscan.cli import app as cli_app
from roadscan.detector.anonymise import HORIZON_FILL, Anonymiser
from roadscan.geo.camera_profiles import load_profile
from roadscan.geo.roads import load_network
from roadscan.api.store.staging import originals_dir
from roadscan.pipeline import ProcessOptions, process_survey
from roadscan.sample import make_sample_drive
from roadscan.sample.oracle import TruthDetector

from _photos import decode, encode, is_flat, plate_scene


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return make_sample_drive(tmp_path_factory.mktemp("drive"), length_m=120.0)


def _process(drive, db, **kw):
    with open_store(db) as store:
        summary = process_survey(drive.video, drive.gpx, store, ProcessOptions(camera="sample-drive", **kw),
                                 detector=TruthDetector(drive.boxes()), network=load_network(drive.roads))
        return summary, store.images_dir


def band_row(image_height: int, image_width: int) -> int:
    cam = load_profile("sample-drive").for_image(image_width, image_height)
    return Anonymiser("horizon").mask_row(image_height, cam.horizon_row)


def assert_anonymised(path) -> None:
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    band = band_row(*image.shape[:2])
    top = image[: max(0, band - 8)]  # JPEG ringing near the band's edge aside
    # JPEG (quality 85) leaves the flat fill within a few levels (7 seen on frame 177 of the sample
    # drive); the scene itself would differ by tens of levels.
    assert top.size and np.abs(top - np.array(HORIZON_FILL)).max() <= 10, f"{path} shows the scene above the horizon"


@pytest.fixture(scope="module")
def processed(drive, tmp_path_factory):
    db = tmp_path_factory.mktemp("store") / "roads.db"
    summary, images = _process(drive, db, store_images="all")
    return db, summary, images


def test_every_stored_image_is_anonymised_and_counted(processed):
    db, summary, images = processed
    files = [p for p in images.rglob("*") if p.is_file()]
    assert len(files) == summary.frames_sampled > 20
    for path in files:
        assert_anonymised(path)
    assert summary.anonymised.mode == "both" and summary.anonymised.images == len(files)
    with sqlite3.connect(db) as conn:
        stored = json.loads(conn.execute("select summary from surveys").fetchone()[0])
    assert stored["anonymised"] == asdict(summary.anonymised)
    assert not images.with_name(images.name + "-originals").exists()  # nothing kept unless asked


def test_the_image_route_serves_the_anonymised_file(processed):
    db, _, images = processed
    client = TestClient(create_app(db))
    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute("select id from defects where evidence_observation_id is not null")]
    assert ids
    for defect_id in ids[:5]:
        r = client.get(f"/defects/{defect_id}/image")
        assert r.status_code == 200, r.text
        with sqlite3.connect(db) as conn:
            path = conn.execute("select f.image_path from defects d join observations o on o.id = "
                                "d.evidence_observation_id join frames f on f.id = o.frame_id where d.id = ?",
                                (defect_id,)).fetchone()[0]
        assert r.content == (images / path).read_bytes()
        boxed = client.get(f"/defects/{defect_id}/image", params={"box": "true"})
        assert boxed.status_code == 200 and boxed.content != r.content


def test_originals_are_kept_only_when_asked_and_never_inside_the_served_folder(drive, tmp_path):
    db = tmp_path / "keep.db"
    _, images = _process(drive, db, keep_originals=True)
    with open_store(db) as store:
        with sqlite3.connect(db) as conn:
            key = conn.execute("select fingerprint from surveys").fetchone()[0]
        kept = originals_dir(store, key)
    assert not kept.resolve().is_relative_to(images.resolve())
    originals = sorted(kept.glob("*.jpg"))
    served = sorted(images.rglob("*.jpg"))
    assert [p.name for p in originals] == [p.name for p in served] and originals
    image = np.asarray(Image.open(originals[0]).convert("RGB")).astype(int)
    assert np.abs(image[:band_row(*image.shape[:2]) - 8] - np.array(HORIZON_FILL)).max() > 20  # the real sky
    assert not list(images.parent.glob(".staging-*")) and not list(kept.parent.glob(".staging-*"))


def _make_legacy(db):
    """Turn a store into one made before anonymisation: raw scenes with faces/plates, no record."""
    with sqlite3.connect(db) as conn:
        summary = json.loads(conn.execute("select summary from surveys").fetchone()[0])
        summary.pop("anonymised")
        conn.execute("update surveys set summary = ?", (json.dumps(summary),))
        paths = [r[0] for r in conn.execute("select image_path from frames where image_path is not null")]
    images = db.with_name(db.stem + "-images")
    for i, rel in enumerate(paths):
        path = images / rel
        with Image.open(path) as im:
            im = im.convert("RGB")
        draw = ImageDraw.Draw(im)
        w, h = im.size
        draw.rectangle((0, 0, w, h // 4), fill=(90, 140, 220))  # an un-masked sky
        draw.ellipse((40 + i % 5 * 30, 20, 80 + i % 5 * 30, 70), fill=(230, 190, 160))  # a head
        im.save(path, quality=90)
    return images, paths


def _add_legacy_photo(db, images):
    """A crew's photo with a number plate as stored before uploads were masked (`anonymised` NULL)."""
    scene, plate = plate_scene(seed=3)
    (images / "photos").mkdir(exist_ok=True)
    (images / "photos" / "old.jpg").write_bytes(encode(scene))
    with sqlite3.connect(db) as conn:
        defect_id = conn.execute("select min(id) from defects").fetchone()[0]
        photo_id = conn.execute("insert into defect_photos (defect_id, path, content_type, bytes, width, height, "
                                "\"by\", at) values (?, 'photos/old.jpg', 'image/jpeg', 1, 640, 480, 'crew', ?)",
                                (defect_id, datetime.now(timezone.utc).isoformat())).lastrowid
    return f"/defects/{defect_id}/photos/{photo_id}", images / "photos" / "old.jpg", plate


def test_anonymise_command_masks_an_old_store_once_and_then_it_is_served(drive, tmp_path):
    db = tmp_path / "old.db"
    _process(drive, db)
    images, paths = _make_legacy(db)
    photo_url, photo, (x1, y1, x2, y2) = _add_legacy_photo(db, images)
    client = TestClient(create_app(db))
    with sqlite3.connect(db) as conn:
        defect_id = conn.execute("select id from defects where evidence_observation_id is not null").fetchone()[0]
    for url in (f"/defects/{defect_id}/image", photo_url):
        refused = client.get(url)
        assert refused.status_code == 404 and "anonymise" in refused.json()["description"]

    runner = CliRunner()
    first = runner.invoke(cli_app, ["anonymise", "--db", str(db)])
    assert first.exit_code == 0, first.output
    assert "anonymised" in first.output and f"in {len(paths) + 1} images" in first.output
    for rel in paths:
        assert_anonymised(images / rel)
    assert is_flat(decode(photo.read_bytes())[y1:y2, x1:x2])
    with sqlite3.connect(db) as conn:
        record = json.loads(conn.execute("select summary from surveys").fetchone()[0])["anonymised"]
    assert record["mode"] == "both" and record["images"] == len(paths) and record["by"] == "roadscan anonymise"
    before = {rel: (images / rel).read_bytes() for rel in [*paths, photo.relative_to(images)]}

    again = runner.invoke(cli_app, ["anonymise", "--db", str(db)])
    assert again.exit_code == 0 and "already anonymised" in again.output
    assert all((images / rel).read_bytes() == data for rel, data in before.items())  # idempotent

    for url in (f"/defects/{defect_id}/image", photo_url):
        assert client.get(url).status_code == 200


def test_anonymise_command_rejects_an_unknown_mode(tmp_path):
    db = tmp_path / "empty.db"
    open_store(db).close()
    r = CliRunner().invoke(cli_app, ["anonymise", "--db", str(db), "--mode", "blur"])
    assert r.exit_code != 0 and "unknown anonymisation mode" in str(r.exception or r.output)


def test_an_unknown_mode_is_refused_before_anything_is_written(drive, tmp_path):
    from roadscan.core.errors import ConfigError

    db = tmp_path / "bad.db"
    with pytest.raises(ConfigError, match="unknown anonymisation mode"):
        _process(drive, db, anonymise="blur")
    images = db.with_name(db.stem + "-images")
    assert not images.exists() or not any(images.rglob("*.jpg"))


def test_a_photo_row_leading_out_of_the_image_folder_is_left_alone_and_unserved(drive, tmp_path):
    from roadscan.anonymise_store import anonymise_photos

    db = tmp_path / "tampered.db"
    _, images = _process(drive, db)
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(encode(plate_scene()[0]))
    before = outside.read_bytes()
    url, _, _ = _add_legacy_photo(db, images)
    with sqlite3.connect(db) as conn:
        conn.execute("update defect_photos set path = '../outside.jpg'")
    with open_store(db) as store:
        report = anonymise_photos(store)
    assert [(r["status"], r["images"]) for r in report] == [("unreadable or missing (not served)", 1)]
    assert outside.read_bytes() == before
    assert TestClient(create_app(db)).get(url).status_code == 404
