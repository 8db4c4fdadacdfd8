"""Reading datasets into memory as uint8 arrays (N, C, H, W) + int64 labels.

* Fashion-MNIST: the idx files of Debian's `dataset-fashion-mnist` (gzip or plain).
* Synthetic: class-dependent patterns plus noise, learnable in a few steps (tests).
A fixed validation split is carved from the training set (BN recalibration, accuracy predictor);
the test split is only for final reports. ImageNet-style folders are never read into memory: they
are streamed (`imagenet.ImageFolderSource`, through `source.open_source`).
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError, FormatError

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


@dataclass
class ArraySplit:
    images: np.ndarray  # uint8 (N, C, H, W)
    labels: np.ndarray  # int64 (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> ArraySplit:
        if n is None or n >= len(self):
            return self
        idx = np.random.default_rng(seed).permutation(len(self))[:n]
        return ArraySplit(self.images[idx], self.labels[idx])


@dataclass
class Splits:
    train: ArraySplit
    val: ArraySplit
    test: ArraySplit
    n_classes: int
    in_channels: int
    mean: float
    std: float
    name: str
    pad: int = 0  # zero padding added around each image before resizing (Fashion-MNIST: 28 -> 32)

    @property
    def background(self) -> float:
        """A 0 pixel after normalisation: the colour of the padding around the image."""
        return -self.mean / self.std


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read idx file ({e})") from None
    if len(data) < 8 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path}: not an idx file")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DatasetError(f"{path}: idx element type {dtype_code:#x} not supported (expected unsigned byte)")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    # bytearray: a writable buffer, so torch.from_numpy on the images does not warn.
    arr = np.frombuffer(bytearray(data), dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: truncated ({arr.size} values, header says {int(np.prod(dims))})")
    return arr.reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (root / name).exists():
            return root / name
    raise DatasetError(
        f"Fashion-MNIST file {stem}[.gz] not found in {root}: install Debian's dataset-fashion-mnist "
        "(apt-get install dataset-fashion-mnist) or pass --data with the folder holding the idx files"
    )


def load_fashion_mnist(root: Path | None = None, val_size: int = 5000, seed: int = 0) -> Splits:
    root = Path(root) if root is not None else FASHION_MNIST_ROOT
    if not root.exists():
        _find(root, "train-images-idx3-ubyte")  # raises with the install hint
    tr_x = _read_idx(_find(root, "train-images-idx3-ubyte"))
    tr_y = _read_idx(_find(root, "train-labels-idx1-ubyte")).astype(np.int64)
    te_x = _read_idx(_find(root, "t10k-images-idx3-ubyte"))
    te_y = _read_idx(_find(root, "t10k-labels-idx1-ubyte")).astype(np.int64)
    if len(tr_x) != len(tr_y) or len(te_x) != len(te_y):
        raise DatasetError(f"{root}: image and label counts differ")
    perm = np.random.default_rng(seed).permutation(len(tr_x))
    val_idx, train_idx = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    train = ArraySplit(tr_x[train_idx, None], tr_y[train_idx])
    val = ArraySplit(tr_x[val_idx, None], tr_y[val_idx])
    test = ArraySplit(te_x[:, None], te_y)
    return Splits(train, val, test, 10, 1, 0.2860, 0.3530, "fashion-mnist", pad=2)


def load_synthetic(n_train: int = 512, n_val: int = 128, n_test: int = 128, n_classes: int = 4,
                   side: int = 32, in_channels: int = 1, seed: int = 0) -> Splits:
    """Each class is a fixed random low-frequency pattern; samples add noise and a small shift."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_classes, in_channels, 4, 4))
    patterns = np.kron(base, np.ones((side // 4, side // 4)))

    def make(n: int) -> ArraySplit:
        y = rng.integers(0, n_classes, size=n)
        x = patterns[y] + 0.5 * rng.normal(size=(n, in_channels, side, side))
        x = np.clip(127.5 + 50 * x, 0, 255).astype(np.uint8)
        return ArraySplit(x, y.astype(np.int64))

    return Splits(make(n_train), make(n_val), make(n_test), n_classes, in_channels, 0.5, 0.2, "synthetic")


DATASET_KINDS = ("fashion-mnist", "imagenet", "folder", "synthetic")


def load_dataset(kind: str = "fashion-mnist", root: str | Path | None = None, val_size: int = 5000,
                 seed: int = 0) -> Splits:
    if kind == "fashion-mnist":
        return load_fashion_mnist(Path(root) if root else None, val_size, seed)
    if kind == "synthetic":
        return load_synthetic(seed=seed)
    if kind in ("imagenet", "folder"):
        raise DatasetError(f"the {kind!r} dataset is an ImageNet-style folder, streamed (data.source.open_source), "
                           "never loaded into memory")
    raise FormatError(f"unknown dataset kind {kind!r}: choose fashion-mnist, imagenet or synthetic")
