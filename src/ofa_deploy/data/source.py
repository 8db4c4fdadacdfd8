"""One dataset interface for every command: eval, train and BN-calibration batches at a resolution.

Two implementations: `ArraySource` (Fashion-MNIST idx files and the synthetic set, in memory,
batched tensor ops) and `ImageFolderSource` (ImageNet-style folders, streamed through DataLoader
workers with the official OFA transforms). Export, `predictor dataset`, train reports and latency
validation take a `DataSource` and never ask which kind it is.

Splits: `train`, `val` (held out of the training images: search, predictor, BN recalibration of the
in-memory path) and `test` (final reports, export verification).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import DatasetError
from .batches import BatchStream, eval_batches
from .datasets import Splits, load_dataset


@runtime_checkable
class DataSource(Protocol):
    name: str
    n_classes: int
    in_channels: int
    bn_transform: str  # the transform `bn_batches` uses by default: "train" or "eval"
    bn_batch: int  # the batch size `bn_batches` uses by default

    def split_size(self, split: str) -> int: ...

    def eval_batches(self, split: str, r: int, batch_size: int = 100, limit: int | None = None
                     ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def bn_batches(self, r: int, n_images: int = 2000, batch_size: int | None = None, transform: str | None = None,
                   seed: int = 0) -> Iterator[torch.Tensor]: ...

    def train_batches(self, batch_size: int, resolutions: Sequence[int], epoch: int = 0, seed: int = 0,
                      drop_last: bool = True, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


class ArraySource:
    """`Splits` (uint8 arrays in memory) behind the interface; behaviour of the existing array path.

    BN calibration reads the first `n_images` of the held-out split with the eval transform, as the
    Fashion-MNIST commands always did (`transform="train"` draws augmented training batches instead).
    """

    bn_transform = "eval"
    bn_batch = 250

    def __init__(self, splits: Splits):
        self.splits = splits
        self.name, self.n_classes, self.in_channels = splits.name, splits.n_classes, splits.in_channels

    def _split(self, split: str):
        if split not in ("train", "val", "test"):
            raise DatasetError(f"unknown split {split!r}: choose train, val or test")
        return getattr(self.splits, split)

    def split_size(self, split: str) -> int:
        return len(self._split(split))

    def describe(self) -> str:
        return (f"{self.name}: {self.n_classes} classes, {self.split_size('train')} train, "
                f"{self.split_size('val')} held out, {self.split_size('test')} test")

    def eval_batches(self, split: str, r: int, batch_size: int = 500, limit: int | None = None
                     ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return eval_batches(self._split(split), self.splits, r, batch_size, limit)

    def bn_batches(self, r: int, n_images: int = 2000, batch_size: int | None = None, transform: str | None = None,
                   seed: int = 0) -> Iterator[torch.Tensor]:
        transform = transform or self.bn_transform
        batch_size = batch_size or self.bn_batch
        if transform == "eval":
            return (x for x, _ in eval_batches(self.splits.val, self.splits, r, batch_size, n_images))
        if transform != "train":
            raise DatasetError(f"BN calibration transform {transform!r}: choose train or eval")
        stream = BatchStream(self.splits.train, self.splits, batch_size, seed=seed)
        n = min(n_images, len(self.splits.train))
        return (stream.next_batch(r)[0][: n - i] for i in range(0, n, batch_size))

    def train_batches(self, batch_size: int, resolutions: Sequence[int], epoch: int = 0, seed: int = 0,
                      drop_last: bool = True, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        stream = BatchStream(self.splits.train, self.splits, batch_size, seed=seed * 1_000_003 + epoch)
        rng = np.random.default_rng([seed, epoch])
        for b in range(len(self.splits.train) // batch_size):
            batch = stream.next_batch(int(rng.choice(np.asarray(resolutions))))
            if b >= start:  # the batches before `start` are drawn, not returned: the same stream as unbroken
                yield batch


def as_source(data: DataSource | Splits) -> DataSource:
    """Callers written for `Splits` keep working: wrap them."""
    return ArraySource(data) if isinstance(data, Splits) else data


def open_source(kind: str, root: str | os.PathLike | None = None, val_size: int | None = None, seed: int = 0,
                workers: int | None = None, skip_bad_images: bool = False) -> DataSource:
    """`kind` "imagenet" (an ImageNet-style folder, streamed; "folder" is its alias), or any kind of
    `load_dataset` (in memory)."""
    if kind in ("imagenet", "folder"):
        from .imagenet import ImageFolderSource

        if root is None:
            raise DatasetError("the 'imagenet' dataset needs --data pointing at a folder with train/<wnid>/")
        return ImageFolderSource(Path(root), 10000 if val_size is None else val_size, workers, skip_bad_images)
    return ArraySource(load_dataset(kind, root, 5000 if val_size is None else val_size, seed))


def skipped_images(source: DataSource | None) -> dict[str, Any] | None:
    """Unreadable images a folder source skipped so far (`skip_bad_images`): {count, examples} for
    logs and reports, None when it skipped none (or cannot skip)."""
    s = getattr(source, "skipped", None)
    if s is None or not s.count:
        return None
    return {"count": int(s.count), "examples": list(dict.fromkeys(s.examples))}  # a count of reads; each file once
