"""ImageNet-1k class order: a folder with a subset of ImageNet's classes, labelled as a 1000-class
model numbers them.

An ImageNet-style folder numbers its classes by their sorted folder names (`data.folder`), so a
folder with only some of the 1000 classes would number them 0..k-1, and a 1000-class supernet's
outputs would be scored against the wrong labels unless those classes happen to be the first k.
The official order (`_data/imagenet/wnids.txt`, shipped with the package; its source is named in
the file) maps each folder class by its wnid instead; a class that is not an ImageNet-1k wnid
cannot be mapped and is refused.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from ..errors import DatasetError
from ..paths import shipped_dir
from .folder import FolderIndex

IMAGENET_CLASSES = 1000


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 wnids in class-index order."""
    lines = (shipped_dir() / "imagenet" / "wnids.txt").read_text().splitlines()
    wnids = tuple(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
    if len(wnids) != IMAGENET_CLASSES or len(set(wnids)) != IMAGENET_CLASSES:
        raise DatasetError("the shipped ImageNet class list is damaged (expected 1000 distinct wnids); reinstall "
                           "ofa-deploy")
    return wnids


def map_to_model_classes(index: FolderIndex, n_classes: int) -> FolderIndex:
    """`index` with its labels as a model of `n_classes` outputs numbers them: unchanged when the
    folder has every class; by ImageNet wnid for a subset of ImageNet's 1000 classes; anything
    else cannot be mapped (`DatasetError`)."""
    if len(index.classes) == n_classes:
        return index
    if len(index.classes) > n_classes:
        raise DatasetError(f"{index.root} has {len(index.classes)} classes, more than the supernet's {n_classes}; "
                           "give --data with the supernet's classes")
    if n_classes != IMAGENET_CLASSES:
        raise DatasetError(f"{index.root} has {len(index.classes)} of the supernet's {n_classes} classes, and only a "
                           "subset of ImageNet's 1000 classes can be matched to the outputs (by wnid); give --data "
                           f"with all {n_classes} classes")
    order = {w: i for i, w in enumerate(imagenet_wnids())}
    unknown = [c for c in index.classes if c not in order]
    if unknown:
        raise DatasetError(f"{index.root}: class folder(s) {', '.join(unknown[:5])} are not ImageNet-1k wnids, so "
                           "their labels cannot be matched to the 1000-class supernet's outputs; name the class "
                           "folders by wnid (n01440764 ...) or remove them")
    to_model = [order[c] for c in index.classes]

    def remap(samples):
        return None if samples is None else tuple((p, to_model[label]) for p, label in samples)

    return dataclasses.replace(index, train=remap(index.train), val=remap(index.val))


__all__ = ["IMAGENET_CLASSES", "imagenet_wnids", "map_to_model_classes"]
