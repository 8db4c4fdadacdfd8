"""The images an export uses: which dataset belongs to a supernet, and the three uses of it.

- BN recalibration and int8 calibration read the validation split (carved from the training
  set), never the test split;
- verification reads the first N images of the test split, with their labels.
The dataset is the one of the supernet's training recipe (recorded in its checkpoint: the
shipped demo supernet says `demo-fmnist`, i.e. Fashion-MNIST); `--data DIR` points at the files
elsewhere. Without a dataset (an official ImageNet checkpoint and no `--data`), BN statistics are
kept and verification uses random N(0, 1) images: logit parity is still checked, accuracy is not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Splits, load_dataset
from ..data.batches import to_tensor
from ..data.datasets import DatasetError
from ..errors import FormatError
from ..space import SpaceSpec


@dataclass
class ExportData:
    splits: Splits | None
    source: str  # what the images are, for reports
    bn_images: int = 2000


def resolve_data(spec: SpaceSpec, supernet_meta: dict[str, Any], data_dir: str | os.PathLike | None) -> ExportData:
    """The dataset of the supernet's recipe (files from `data_dir` if given), or none."""
    from ..train.recipe import load_recipe

    recipe = None
    name = supernet_meta.get("recipe")
    if isinstance(name, str):
        try:
            recipe = load_recipe(name)
        except FormatError:
            recipe = None  # a recipe file that is not here any more: fall back to --data
    if recipe is None and data_dir is None:
        return ExportData(None, "random N(0,1) images (no dataset for this supernet; give --data for real ones)")
    data = dict(recipe.data) if recipe is not None else {}
    kind = data.get("kind", "fashion-mnist")
    root = data.get("root")
    if data_dir is not None:
        root = Path(data_dir)
        if not root.is_dir():
            raise DatasetError(f"--data {root}: no such folder")
        kind = "folder" if (root / "train").is_dir() else "fashion-mnist"
    seed = recipe.seed if recipe is not None else 0
    try:
        splits = load_dataset(kind, root, int(data.get("val_size", 5000)), seed)
    except DatasetError as e:
        if data_dir is not None:
            raise
        # The recipe's dataset is not installed here: export anyway, and say so in the report.
        return ExportData(None, f"random N(0,1) images (the recipe's dataset is unavailable: {e})")
    if (splits.in_channels, splits.n_classes) != (spec.in_channels, spec.n_classes):
        raise DatasetError(
            f"dataset {splits.name} has {splits.in_channels} channel(s) and {splits.n_classes} classes, but the "
            f"supernet ({spec.describe()}) takes {spec.in_channels} and {spec.n_classes}; give --data with its dataset"
        )
    via = f"recipe {recipe.name}" if recipe is not None else f"--data {data_dir}"
    bn = recipe.bn_images if recipe is not None else 2000
    return ExportData(splits, f"{splits.name} ({via})", bn)


def _images(data: ExportData, split: str, spec: SpaceSpec, r: int, n: int, seed: int
            ) -> tuple[np.ndarray, np.ndarray | None]:
    if data.splits is None:
        x = np.random.default_rng(seed).standard_normal((n, spec.in_channels, r, r)).astype(np.float32)
        return x, None
    part = getattr(data.splits, split)
    n = min(n, len(part))
    x = to_tensor(np.array(part.images[:n]), data.splits, r, channels_last=False).numpy()  # idx arrays are read-only
    return np.ascontiguousarray(x, dtype=np.float32), part.labels[:n].copy()


def verification_images(data: ExportData, spec: SpaceSpec, r: int, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C, r, r) float32 from the test split and their labels (None for random images)."""
    return _images(data, "test", spec, r, n, seed=0)


def calibration_images(data: ExportData, spec: SpaceSpec, r: int, n: int) -> list[np.ndarray]:
    """`n` batch-1 inputs from the validation split (random images without a dataset)."""
    x, _ = _images(data, "val", spec, r, n, seed=1)
    return [x[i:i + 1] for i in range(len(x))]
