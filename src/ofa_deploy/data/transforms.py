"""The official OFA ImageNet transforms, in Pillow and numpy (torchvision does not install here).

Upstream (`ofa/imagenet_classification/data_providers/imagenet.py`) builds them from torchvision:
eval = Resize(ceil(r / 0.875)) + CenterCrop(r) + ToTensor + Normalize; train = RandomResizedCrop(r,
scale=(0.08, 1)) + RandomHorizontalFlip + ColorJitter(brightness=32/255, saturation=0.5) ("tf"
distortion) + ToTensor + Normalize. Each step below repeats torchvision's arithmetic (its rounding,
its Resize long-side rule, its 10-attempt crop search and fallback) so that our eval tensors equal
torchvision's; the golden tests check that against tensors made with torchvision itself.

Transforms give uint8 HWC arrays; `normalize` turns a stacked batch into ToTensor + Normalize floats
(in the DataLoader workers, so that it runs in parallel), the same elementwise float32 operations
torchvision applies per image, so batching does not change a value.
Random draws use numpy Generators: the stream differs from torchvision's torch RNG, the
distributions are the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_RATIO = 0.875  # upstream: eval resizes the shorter side to ceil(r / 0.875), then crops r
DEFAULT_RESIZE_SCALE = 0.08  # upstream RandomResizedCrop scale=(resize_scale, 1)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
BRIGHTNESS = 32.0 / 255.0  # "tf" colour distortion
SATURATION = 0.5


def open_rgb(path: str | Path) -> Image.Image:
    """Open as torchvision's ImageFolder does (`pil_loader`): whatever the file holds, as RGB."""
    with open(path, "rb") as f:
        img = Image.open(f)
        if img.mode == "RGB":  # convert() would only copy it
            img.load()
            return img
        return img.convert("RGB")


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """torchvision `Resize(size)` on a PIL image: shorter side -> size, long side int(size * long / short)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), Image.BILINEAR)


def center_offsets(w: int, h: int, size: int) -> tuple[int, int]:
    """torchvision `CenterCrop(size)`: (left, top) = int(round((side - size) / 2.0)), Python's round (half to even)."""
    if w < size or h < size:
        raise ValueError(f"center crop: image {w}x{h} is smaller than the crop {size}")
    return round((w - size) / 2.0), round((h - size) / 2.0)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    left, top = center_offsets(*img.size, size)
    return img.crop((left, top, left + size, top + size))


def eval_resize_side(r: int) -> int:
    return math.ceil(r / CROP_RATIO)


def eval_transform(img: Image.Image, r: int) -> np.ndarray:
    """Upstream's eval transform up to ToTensor: uint8 (r, r, 3) (the crop is a view of the resized pixels)."""
    img = resize_shorter(img, eval_resize_side(r))
    left, top = center_offsets(*img.size, r)
    return np.asarray(img, dtype=np.uint8)[top:top + r, left:left + r]


def random_resized_crop_params(width: int, height: int, rng: np.random.Generator,
                               scale: tuple[float, float] = (DEFAULT_RESIZE_SCALE, 1.0),
                               ratio: tuple[float, float] = RATIO) -> tuple[int, int, int, int]:
    """torchvision `RandomResizedCrop.get_params`: (top, left, h, w); 10 attempts, then a central crop."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def color_jitter(img: Image.Image, rng: np.random.Generator, brightness: float = BRIGHTNESS,
                 saturation: float = SATURATION) -> Image.Image:
    """torchvision `ColorJitter(brightness, saturation)`: both factors uniform in [1-x, 1+x], random order."""
    b = rng.uniform(max(0.0, 1 - brightness), 1 + brightness)
    s = rng.uniform(max(0.0, 1 - saturation), 1 + saturation)
    steps = [lambda im: ImageEnhance.Brightness(im).enhance(b), lambda im: ImageEnhance.Color(im).enhance(s)]
    for i in rng.permutation(2):
        img = steps[i](img)
    return img


@dataclass(frozen=True)
class TrainTransform:
    """Upstream's train transform up to ToTensor; `rng` makes each image's draws reproducible."""

    resize_scale: float = DEFAULT_RESIZE_SCALE
    flip: bool = True
    distort_color: bool = True

    def __call__(self, img: Image.Image, r: int, rng: np.random.Generator) -> np.ndarray:
        top, left, h, w = random_resized_crop_params(img.size[0], img.size[1], rng, (self.resize_scale, 1.0))
        img = img.crop((left, top, left + w, top + h)).resize((r, r), Image.BILINEAR)
        if self.flip and rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if self.distort_color:
            img = color_jitter(img, rng)
        return np.asarray(img, dtype=np.uint8)


_MEAN = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> ToTensor + Normalize: float32 (N, 3, H, W), x / 255, minus mean, over std.

    Image by image (each fits in cache: about twice as fast as whole-batch ops); the float32 operations
    and their order are torchvision's, so the values are too.
    """
    n, h, w, _ = batch.shape
    out = torch.empty((n, 3, h, w), dtype=torch.float32)
    if torch.utils.data.get_worker_info() is not None:
        out.share_memory_()  # as DataLoader's default_collate: written once, passed to the main process as is
    for i in range(n):
        o = out[i]
        o.copy_(batch[i].permute(2, 0, 1))
        o.div_(255).sub_(_MEAN).div_(_STD)
    return out
