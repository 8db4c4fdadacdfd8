"""The images an export uses: which dataset belongs to a supernet, and the three uses of it.

Every use goes through the one dataset interface (`ofa_deploy.data.source.DataSource`), so an
ImageNet-style folder and Fashion-MNIST take the same path:
- BN recalibration: `bn_batches` (a folder: upstream's 2000 training images, train transform, or
  `--bn-transform eval`; arrays: the held-out split);
- int8 calibration: `bn_batches(transform="eval")` (training images of a folder, eval transform at r);
- verification: the first N images of the test split (a folder's val/), eval transform, with labels.
The dataset is the one of the supernet's training recipe (recorded in its checkpoint: the shipped
demo supernet says `demo-fmnist`, i.e. Fashion-MNIST); `--data DIR` points at the files elsewhere
(a folder with train/ is ImageNet-style, else Fashion-MNIST idx files). Without a dataset (an
official ImageNet checkpoint and no `--data`), BN statistics are the supernet's, which are wrong for a
subnet (upstream once-for-all issue #8: about 0 % top-1), so the export carries a loud `warning`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.datasets import DatasetError
from ..data.source import DataSource, open_source
from ..errors import FormatError
from ..space import FamilySpec

NO_BN_WARNING = ("BN statistics are the supernet's, not this subnet's: an official supernet's subnet scores about "
                 "0 % top-1 this way (once-for-all issue #8); give --data with the training images to recalibrate")


@dataclass
class BnOptions:
    """How BN statistics are recalibrated (`--bn-images`, `--bn-batch`, `--bn-transform`)."""

    images: int | None = None  # default: the recipe's bn_images, else 2000 (upstream's sub_train_loader)
    batch: int = 200
    transform: str | None = None  # "train" | "eval"; default: the source's own


@dataclass
class ExportData:
    source: DataSource | None
    description: str  # what the images are, for reports
    bn_images: int = 2000
    warnings: list[str] = field(default_factory=list)


def folder_kind(root: Path) -> str:
    """`imagenet` for a folder with train/, else Fashion-MNIST's idx files."""
    return "imagenet" if (root / "train").is_dir() else "fashion-mnist"


def resolve_data(spec: FamilySpec, supernet_meta: dict[str, Any], data_dir: str | os.PathLike | None,
                 workers: int | None = None, skip_bad_images: bool = False) -> ExportData:
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
        if not any(root.iterdir()):
            raise DatasetError(f"--data {root} is empty: give an ImageNet-style folder (train/<wnid>/*.JPEG, val/ "
                               "optional)" + ("" if spec.in_channels == 3 else ", or Fashion-MNIST's idx files"))
        kind = folder_kind(root)
    seed = recipe.seed if recipe is not None else 0
    try:
        if kind in ("imagenet", "folder") and root is not None:
            source = _export_folder(Path(root), workers, skip_bad_images, spec.n_classes)
        else:
            source = open_source(kind, root, data.get("val_size"), seed, workers, skip_bad_images)
    except DatasetError as e:
        if data_dir is not None:
            raise
        # The recipe's dataset is not installed here: export anyway, and say so in the report.
        return ExportData(None, f"random N(0,1) images (the recipe's dataset is unavailable: {e})")
    # A folder with fewer classes than the model (an ImageNet subset) is accepted: its labels were mapped
    # to the model's outputs by wnid (`data.wnids`), or it was refused there.
    if source.in_channels != spec.in_channels or not (
            source.n_classes == spec.n_classes or (source.name.startswith("folder:") and source.n_classes < spec.n_classes)):
        raise DatasetError(
            f"dataset {source.name} has {source.in_channels} channel(s) and {source.n_classes} classes, but the "
            f"supernet ({spec.describe()}) takes {spec.in_channels} and {spec.n_classes}; give --data with its dataset"
        )
    via = f"recipe {recipe.name}" if recipe is not None else f"--data {data_dir}"
    bn = recipe.bn_images if recipe is not None else 2000
    return ExportData(source, f"{source.name} ({via})", bn)


def _export_folder(root: Path, workers: int | None, skip_bad_images: bool, n_classes: int) -> DataSource:
    """Export verifies on val/, so with a val/ folder every training image may calibrate (nothing held
    out: BN reads the sorted train/ images, as the conformance case does); without one, a tenth of
    train/ (at most 10000) is held out to verify on. Labels are the model's (`data.wnids`: a subset of
    ImageNet's classes is mapped by wnid)."""
    from ..data.folder import index_folder
    from ..data.imagenet import ImageFolderSource
    from ..data.wnids import map_to_model_classes

    index = map_to_model_classes(index_folder(root), n_classes)
    hold_out = 0 if index.val is not None else max(1, min(10000, len(index.train) // 10))
    return ImageFolderSource(root, hold_out, workers, skip_bad_images, index=index)


def transform_name(source: DataSource | None, transform: str) -> str:
    """The preprocessing, in words, for reports."""
    if source is None:
        return "none (random N(0,1) images)"
    if getattr(source, "in_channels", None) == 3 and source.name.startswith("folder:"):
        if transform == "eval":
            return "official OFA eval transform: Resize(ceil(r / 0.875)), CenterCrop(r), Normalize(ImageNet)"
        return "official OFA train transform: RandomResizedCrop(r, (0.08, 1)), flip, colour jitter, Normalize"
    return f"{source.name} arrays scaled to r" + (" (augmented)" if transform == "train" else "")


def skipped(source: DataSource | None) -> int:
    s = getattr(source, "skipped", None)
    return 0 if s is None else s.count


def bn_batches(data: ExportData, r: int, bn: BnOptions):
    """(batches, info) for BN recalibration; the count of images is filled in as they are read."""
    assert data.source is not None
    transform = bn.transform or data.source.bn_transform
    n = data.bn_images if bn.images is None else bn.images
    split = "train" if data.source.name.startswith("folder:") else ("val" if transform == "eval" else "train")
    info: dict[str, Any] = {"recalibrated": True, "images": 0, "requested_images": n, "batch": bn.batch,
                            "transform": transform, "preprocessing": transform_name(data.source, transform),
                            "resolution": r, "split": split, "source": f"{split} split of {data.description}"}

    def gen():
        for x in data.source.bn_batches(r, n, bn.batch, transform=transform):
            info["images"] += len(x)
            yield x

    return gen(), info


def verification_images(data: ExportData, spec: FamilySpec, r: int, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C, r, r) float32 from the test split and their labels (None for random images)."""
    if data.source is None:
        x = np.random.default_rng(0).standard_normal((n, spec.in_channels, r, r)).astype(np.float32)
        return x, None
    xs, ys = [], []
    for x, y in data.source.eval_batches("test", r, limit=n):
        xs.append(x.contiguous(memory_format=torch.contiguous_format).numpy())
        ys.append(y.numpy())
    if not xs:
        raise DatasetError(f"{data.description}: the test split gave no images to verify on")
    return np.ascontiguousarray(np.concatenate(xs), dtype=np.float32), np.concatenate(ys)


def calibration_images(data: ExportData, spec: FamilySpec, r: int, n: int) -> list[np.ndarray]:
    """`n` batch-1 inputs: training images of a folder (eval transform at r), the held-out split of arrays
    (random images without a dataset)."""
    if data.source is None:
        x = np.random.default_rng(1).standard_normal((n, spec.in_channels, r, r)).astype(np.float32)
    else:
        x = np.concatenate([b.contiguous(memory_format=torch.contiguous_format).numpy()
                            for b in data.source.bn_batches(r, n, 50, transform="eval")])
    x = np.ascontiguousarray(x, dtype=np.float32)
    return [x[i:i + 1] for i in range(len(x))]
