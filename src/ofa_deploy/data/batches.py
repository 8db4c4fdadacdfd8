"""Batches as float tensors at a chosen resolution, augmented in whole-batch tensor ops.

Training draws one resolution per batch (upstream elastic resolution); random crop with padding
and horizontal flip are done on the batch at once, which is far faster on a CPU than per-image
transforms in DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import ArraySplit, Splits


def normalise(images: np.ndarray, splits: Splits) -> torch.Tensor:
    """uint8 (N,C,H,W) -> float normalised with the dataset's mean and std, with its border added."""
    x = torch.from_numpy(images).float().div_(255.0)
    x = (x - splits.mean) / splits.std
    return F.pad(x, (splits.pad,) * 4, value=splits.background) if splits.pad else x


def to_tensor(images: np.ndarray, splits: Splits, r: int, channels_last: bool = True) -> torch.Tensor:
    """uint8 (N,C,H,W) -> normalised float at r x r (deterministic: pad, then resize)."""
    x = normalise(images, splits)
    if x.shape[-1] != r or x.shape[-2] != r:
        x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=r < x.shape[-1])
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


CROP_FILLS = ("mean", "background")
DEFAULT_CROP_FILL = "mean"  # what recipes without data.crop_fill get


def augment(x: torch.Tensor, pad: int, rng: torch.Generator, fill: float = 0.0) -> torch.Tensor:
    """Random crop (padding `pad` filled with `fill`) + horizontal flip, per sample, in batched indexing."""
    n, c, h, w = x.shape
    xp = F.pad(x, (pad,) * 4, value=fill)
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=rng)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=rng)
    rows = (oy[:, None] + torch.arange(h)[None, :])  # (n, h)
    cols = (ox[:, None] + torch.arange(w)[None, :])  # (n, w)
    flip = torch.rand(n, generator=rng) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n)[:, None, None, None]
    idx_c = torch.arange(c)[None, :, None, None]
    return xp[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]


class BatchStream:
    """Endless shuffled training batches; `next_batch(r)` returns (x at r x r, y).

    `crop_fill` is what the random crop's padding shows: "background" the colour of a 0 pixel (black,
    like the border added around Fashion-MNIST and like padding the raw image), "mean" the normalised 0,
    i.e. the dataset's mean grey (the behaviour the first shipped demo supernets were trained with).
    """

    def __init__(self, split: ArraySplit, splits: Splits, batch_size: int, seed: int = 0,
                 crop_pad: int = 2, channels_last: bool = True, crop_fill: str = DEFAULT_CROP_FILL):
        if crop_fill not in CROP_FILLS:
            raise ValueError(f"crop_fill {crop_fill!r}: choose one of {', '.join(CROP_FILLS)}")
        self.split, self.splits = split, splits
        self.batch_size, self.crop_pad, self.channels_last = batch_size, crop_pad, channels_last
        self.crop_fill_value = splits.background if crop_fill == "background" else 0.0
        self.rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator().manual_seed(seed)
        self._order = self.rng.permutation(len(split))
        self._pos = 0

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "torch_rng": self.torch_rng.get_state(),
                "order": self._order, "pos": self._pos}

    def load_state(self, s: dict) -> None:
        self.rng.bit_generator.state = s["rng"]
        self.torch_rng.set_state(s["torch_rng"])
        self._order, self._pos = s["order"], s["pos"]

    def next_batch(self, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.batch_size > len(self._order):
            self._order = self.rng.permutation(len(self.split))
            self._pos = 0
        idx = np.sort(self._order[self._pos:self._pos + self.batch_size])
        self._pos += self.batch_size
        x = normalise(self.split.images[idx], self.splits)
        if self.crop_pad:
            x = augment(x, self.crop_pad, self.torch_rng, self.crop_fill_value)
        if x.shape[-1] != r:
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=r < x.shape[-1])
        x = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()
        return x, torch.from_numpy(self.split.labels[idx])


def eval_batches(split: ArraySplit, splits: Splits, r: int, batch_size: int = 500,
                 limit: int | None = None, channels_last: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    n = len(split) if limit is None else min(limit, len(split))
    for i in range(0, n, batch_size):
        j = min(i + batch_size, n)
        yield to_tensor(split.images[i:j], splits, r, channels_last), torch.from_numpy(split.labels[i:j])


def resolution_schedule(resolutions: Sequence[int], n: int, rng: np.random.Generator) -> list[int]:
    return [int(v) for v in rng.choice(np.asarray(resolutions), size=n)]
