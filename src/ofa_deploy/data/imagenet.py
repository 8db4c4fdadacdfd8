"""ImageNet-style folders, streamed: Pillow reads each image in DataLoader workers, at the subnet's resolution.

Nothing is held in memory but file paths, so ImageNet's 1.28 M training images are fine. Each
sample is keyed by (index, resolution, mode, seed): the batch sampler chooses the resolution per
batch (upstream elastic resolution) and every random draw of an image comes from
`numpy.random.default_rng([seed, index])`, so results do not depend on the number of workers or on
which worker read what. Under torchrun, training batches come from a `DistributedSampler`.

Splits, as for Fashion-MNIST: `train` (train/ minus the held-out images), `val` (held out of
train/, `val_size` images chosen as upstream's `random_sample_valid_set`: `torch.randperm` with
seed 2147483647; the search, the accuracy predictor and reports read it, eval transform) and
`test` (the val/ folder; the held-out split when there is none).
BN calibration: upstream's `sub_train_loader`, i.e. `bn_images` training images (2000) chosen with
`torch.randperm` seeded 937162211, train transform with fixed draws; `transform="eval"` makes it
fully deterministic. Unlike upstream, the held-out images are never among them.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Sampler

from ..errors import DatasetError
from .folder import FolderIndex, Sample, index_folder
from .transforms import DEFAULT_RESIZE_SCALE, TrainTransform, eval_transform, normalize, open_rgb

VALID_SEED = 2147483647  # upstream DataProvider.VALID_SEED
SUB_SEED = 937162211  # upstream DataProvider.SUB_SEED
BAD_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)

Key = tuple[int, int, str, int]  # (sample index, resolution, "eval" | "train", seed)


class _Files(Dataset):
    """Samples -> (uint8 HWC image at r, label), or (None, path, reason) for an unreadable file."""

    def __init__(self, samples: Sequence[Sample], train_transform: TrainTransform):
        self.samples = samples
        self.train_transform = train_transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: Key):
        i, r, mode, seed = key
        path, label = self.samples[i]
        try:
            img = open_rgb(path)
            if mode == "eval":
                arr = eval_transform(img, r)
            else:
                arr = self.train_transform(img, r, np.random.default_rng([seed, i]))
        except BAD_IMAGE_ERRORS as e:
            return None, path, f"{type(e).__name__}: {e}"
        return arr, label


def _collate(items: list) -> tuple[torch.Tensor | None, torch.Tensor, list[tuple[str, str]]]:
    """Runs in the worker: stack and normalise the readable images, pass the unreadable ones on by name."""
    good = [it for it in items if it[0] is not None]
    bad = [(it[1], it[2]) for it in items if it[0] is None]
    if not good:
        return None, torch.empty(0, dtype=torch.int64), bad
    x = normalize(torch.from_numpy(np.stack([it[0] for it in good])))
    return x, torch.tensor([it[1] for it in good], dtype=torch.int64), bad


class _Batches(Sampler):
    """Batches of keys over `order` (a sampler or index list); one resolution per batch.

    `sizes`, when given, is the resolution of each batch in turn (training: drawn per epoch, see
    `epoch_sizes`); otherwise each batch draws one of `resolutions`.
    """

    def __init__(self, order, batch_size: int, resolutions: Sequence[int], mode: str, seed: int,
                 drop_last: bool = False, sizes: Sequence[int] | None = None):
        self.order, self.batch_size, self.resolutions = order, batch_size, list(resolutions)
        self.mode, self.seed, self.drop_last = mode, seed, drop_last
        self.sizes = None if sizes is None else [int(v) for v in sizes]

    def __iter__(self) -> Iterator[list[Key]]:
        rng = np.random.default_rng([self.seed, 1])
        batch: list[int] = []
        b = 0
        for i in self.order:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield self._keys(batch, rng, b)
                batch, b = [], b + 1
        if batch and not self.drop_last:
            yield self._keys(batch, rng, b)

    def _keys(self, batch: list[int], rng: np.random.Generator, b: int) -> list[Key]:
        if self.sizes is not None:
            r = self.sizes[b]
        else:
            r = self.resolutions[0] if len(self.resolutions) == 1 else int(rng.choice(self.resolutions))
        return [(i, r, self.mode, self.seed) for i in batch]

    def __len__(self) -> int:
        n = len(self.order)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


def epoch_sizes(resolutions: Sequence[int], n_batches: int, epoch: int, seed: int) -> list[int]:
    """The resolution of every training batch of an epoch, as upstream's `MyRandomResizedCrop.sample_image_size`:
    a function of (seed, epoch, batch index) only, so every torchrun rank trains each step at the same
    resolution, and a resumed epoch continues with the resolutions it would have had."""
    res = [int(v) for v in resolutions]
    if len(res) == 1:
        return res * n_batches
    return [int(v) for v in np.random.default_rng([seed, epoch, 2]).choice(np.asarray(res), size=n_batches)]


@dataclass
class SkipCount:
    """Unreadable images skipped so far (with `skip_bad_images`), and the first few of them."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


def _dist_info() -> tuple[int, int] | None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


class ImageFolderSource:
    """An ImageNet-style folder behind the dataset interface of `ofa_deploy.data.source`."""

    in_channels = 3
    bn_transform = "train"  # upstream recalibrates on training images with the train transform
    bn_batch = 200

    def __init__(self, root: str | os.PathLike, val_size: int = 10000, workers: int | None = None,
                 skip_bad_images: bool = False, resize_scale: float = DEFAULT_RESIZE_SCALE,
                 split_seed: int = VALID_SEED, index: FolderIndex | None = None):
        self.index = index or index_folder(root)
        self.name = f"folder:{self.index.root}"
        self.n_classes = len(self.index.classes)
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers
        self.skip_bad_images = skip_bad_images
        self.skipped = SkipCount()
        self.train_transform = TrainTransform(resize_scale=resize_scale)
        n = len(self.index.train)
        if val_size < 0 or val_size >= n:
            raise DatasetError(f"{self.index.root}/train has {n} images: val_size {val_size} must be in 0..{n - 1}")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed)).tolist()
        self._held_out, self._train = perm[:val_size], perm[val_size:]
        all_train = self.index.train
        self._splits = {
            "train": [all_train[i] for i in sorted(self._train)],
            "val": [all_train[i] for i in sorted(self._held_out)],
        }
        self._splits["test"] = list(self.index.val) if self.index.val is not None else self._splits["val"]

    # ---- the dataset interface --------------------------------------------------------------
    def split_size(self, split: str) -> int:
        return len(self._samples(split))

    def describe(self) -> str:
        test = self.index.val_layout if self.index.val is not None else "absent: test = the held-out split"
        return (f"{self.name}: {self.n_classes} classes, {self.split_size('train')} train, "
                f"{self.split_size('val')} held out, {self.split_size('test')} test (val/ {test})")

    def eval_batches(self, split: str, r: int, batch_size: int = 100, limit: int | None = None
                     ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The split's first `limit` images (sorted paths), eval transform at r, with labels."""
        n = self.split_size(split) if limit is None else min(limit, self.split_size(split))
        yield from self._load(split, range(n), batch_size, [r], "eval", 0)

    def bn_batches(self, r: int, n_images: int = 2000, batch_size: int | None = None, transform: str | None = None,
                   seed: int = SUB_SEED) -> Iterator[torch.Tensor]:
        """Calibration images: `n_images` training images chosen with `seed`, every one when fewer exist."""
        transform = transform or self.bn_transform
        batch_size = batch_size or self.bn_batch
        if transform not in ("train", "eval"):
            raise DatasetError(f"BN calibration transform {transform!r}: choose train or eval")
        n = self.split_size("train")
        chosen = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:n_images].tolist()
        if transform == "eval" or n_images >= n:
            chosen = sorted(chosen)  # deterministic order: every image once when fewer than n_images exist
        for x, _ in self._load("train", chosen, batch_size, [r], transform, seed):
            yield x

    def train_batches(self, batch_size: int, resolutions: Sequence[int], epoch: int = 0, seed: int = 0,
                      drop_last: bool = True, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled, augmented batches of `batch_size` (per process), one resolution each,
        from batch `start` on (a resumed epoch: the batches before it are not read).

        Under torchrun every process reads its own share (`DistributedSampler`, reshuffled per epoch);
        the resolution of each batch is the same on every process (`epoch_sizes`). Every image's
        augmentation draws depend on (seed, epoch, rank, image), never on the workers.
        """
        n = self.split_size("train")
        dist = _dist_info()
        if dist is not None:
            order = DistributedSampler(range(n), num_replicas=dist[1], rank=dist[0], shuffle=True, seed=seed)
            order.set_epoch(epoch)
        else:
            order = RandomSampler(range(n), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        rank = dist[0] if dist else 0
        n_batches = len(order) // batch_size if drop_last else math.ceil(len(order) / batch_size)
        sizes = epoch_sizes(resolutions, n_batches, epoch, seed)
        if start:
            order = list(order)[start * batch_size:]
            sizes = sizes[start:]
        yield from self._load("train", order, batch_size, resolutions, "train",
                              int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1)[0]), drop_last,
                              sizes=sizes)

    # ---- loading ------------------------------------------------------------------------------
    def _samples(self, split: str) -> list[Sample]:
        if split not in self._splits:
            raise DatasetError(f"unknown split {split!r}: choose train, val or test")
        return self._splits[split]

    def _load(self, split: str, order, batch_size: int, resolutions: Sequence[int], mode: str, seed: int,
              drop_last: bool = False, sizes: Sequence[int] | None = None
              ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        sampler = _Batches(order, batch_size, resolutions, mode, seed, drop_last, sizes)
        if len(sampler) == 0:
            return
        loader = DataLoader(_Files(self._samples(split), self.train_transform), batch_sampler=sampler,
                            num_workers=self.workers, collate_fn=_collate,
                            worker_init_fn=_quiet_worker, persistent_workers=False,
                            multiprocessing_context=_worker_start() if self.workers else None)
        for x, y, bad in loader:
            if bad:
                if not self.skip_bad_images:
                    path, reason = bad[0]
                    raise DatasetError(f"{path}: cannot read this image ({reason}); replace or remove it, "
                                       "or skip unreadable images (skip_bad_images)")
                self.skipped.count += len(bad)
                self.skipped.examples += [p for p, _ in bad][: max(0, 5 - len(self.skipped.examples))]
            if x is not None:
                yield x, y


def _worker_start() -> multiprocessing.context.BaseContext | None:
    """fork (fast, the default) unless JAX is loaded (LiteRT's converter brings it): JAX's threads make fork
    unsafe, so workers then start from a fork server. The server imports this module (torch, Pillow) once, before
    its first fork: without that, every worker of every epoch imported torch again (1-2 s each; 85 s of the
    test suite's CPU time). The server itself never imports JAX, so forking from it stays safe."""
    if "jax" not in sys.modules:
        return None
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # read when the server starts; later calls change nothing
    return ctx


def _quiet_worker(_: int) -> None:
    torch.set_num_threads(1)  # workers decode images; torch threads there only fight for the cores
