"""Small photos for the ImageNet-style folder tests (three classes, JPEG by default)."""

from __future__ import annotations

import numpy as np
from PIL import Image

CLASSES = ("n001", "n002", "n003")


def photo(seed: int, size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.BILINEAR)


def write_image(path, img: Image.Image, fmt: str = "JPEG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, quality=90)
