"""What every inference backend offers: RGB images in, one Detections per image out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

from roadscan.detector.detections import Detections

T = TypeVar("T")


@runtime_checkable
class Detector(Protocol):
    name: str  # identifies the model in stored surveys, e.g. "ultralytics:roadscan.pt"

    def predict(self, images: Sequence[np.ndarray], frame_indices: Sequence[int] | None = None) -> list[Detections]:
        """One Detections per image; images are (H, W, 3) uint8 RGB, boxes in each image's own pixels.

        `frame_indices` gives each image's position in its footage, for detectors that follow
        defects from frame to frame; single-image models ignore it.
        """
        ...


def batched(iterable: Iterable[T], n: int) -> Iterator[list[T]]:
    """Lists of up to n items (itertools.batched arrived in Python 3.12; we support 3.11)."""
    if n < 1:
        raise ValueError("batch size must be at least 1")
    it = iter(iterable)
    while chunk := list(islice(it, n)):
        yield chunk


def check_images(images: Sequence[np.ndarray]) -> None:
    """Refuse input a backend would silently misread (grey, RGBA, float): a caller bug, not user input."""
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
            desc = f"{im.dtype} array of shape {im.shape}" if isinstance(im, np.ndarray) else type(im).__name__
            raise ValueError(f"image {i} must be an (H, W, 3) uint8 RGB array, got {desc}")
