"""A crew's photo with a readable number plate at a known box: a car's rear drawn by bench/privacy.py
on a smoothly mottled grey ground, for tests of photo anonymisation."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from _bench import load_bench


def plate_scene(size=(640, 480), plate_width: int = 120, seed: int = 1) -> tuple[Image.Image, tuple]:
    """The photo and its plate's box (x1, y1, x2, y2), the car standing in the lower left."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.normal(110, 25, (height // 16 + 1, width // 16 + 1, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)  # smooth: JPEG keeps it
    box = load_bench("privacy").draw_car(ImageDraw.Draw(image), int(plate_width * 2.2), height - height // 12,
                                         plate_width, rng)
    return image, box


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}), **options)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def is_flat(pixels: np.ndarray, tolerance: int = 6) -> bool:
    """One colour throughout, give or take JPEG's rounding."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    return bool(np.abs(flat - np.median(flat, axis=0)).max() <= tolerance)
