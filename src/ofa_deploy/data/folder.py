"""Index of an ImageNet-style folder: which files, which classes, which split (no pixels are read here).

Layouts:
* `root/train/<wnid>/*` (required; classes are the folder names, sorted, as torchvision's ImageFolder);
* `root/val/<wnid>/*`, or a flat `root/val/*` with a labels file, the first found of
  `val/labels.txt`, `val_labels.txt`, `val/LOC_val_solution.csv`, `LOC_val_solution.csv`.
  A labels file has one image a line: `filename wnid` (space, tab or comma between; a filename
  without extension matches the image of that stem), or Kaggle's `LOC_val_solution.csv`
  (`ImageId,PredictionString`, the wnid being the first word of the prediction string). A header
  line whose second field is not a class is skipped. Class indices (ILSVRC2012_validation_ground_truth.txt)
  are not accepted: their order is not the sorted wnid order.
Files are those with ImageFolder's extensions (case-insensitive), sorted within each class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LABEL_FILES = ("val/labels.txt", "val_labels.txt", "val/LOC_val_solution.csv", "LOC_val_solution.csv")

Sample = tuple[str, int]  # (path, class index)


@dataclass(frozen=True)
class FolderIndex:
    root: Path
    classes: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...] | None  # the val/ folder; None when the root has none
    val_layout: str  # "class folders", "flat, labels from <file>" or "absent"


def _maybe_file(e: os.DirEntry) -> bool:
    """Whether an entry is (or may be) a file. One that cannot be followed (a symlink loop, ELOOP;
    a link into a folder we may not read) is listed all the same: the image reader then names it as
    unreadable, or skips and counts it with skip_bad_images, like any other bad image."""
    try:
        return e.is_file()
    except OSError:
        return True


def _images_in(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        names = [e.name for e in it if e.name.lower().endswith(IMG_EXTENSIONS) and _maybe_file(e)]
    return sorted(names)


def _is_dir(e: os.DirEntry) -> bool:
    try:
        return e.is_dir()
    except OSError as err:
        raise DatasetError(f"{e.path}: cannot follow this entry ({err.strerror or err}, a symlink loop?); "
                           "remove it or make it a folder of images") from None


def _class_folders(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if _is_dir(e))


def _by_class(split_dir: Path, classes: dict[str, int], strict: bool) -> list[Sample]:
    samples: list[Sample] = []
    for name in _class_folders(split_dir):
        if name not in classes:
            if strict:
                raise DatasetError(f"{split_dir / name}: class folder not in train/ ({len(classes)} classes there); "
                                   "remove it or add the class to train/")
            continue
        samples += [(str(split_dir / name / f), classes[name]) for f in _images_in(split_dir / name)]
    return samples


def parse_labels(path: Path, classes: dict[str, int]) -> dict[str, int]:
    """`filename wnid` lines (or LOC_val_solution.csv rows) -> {filename or stem: class index}."""
    out: dict[str, int] = {}
    for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, rest = _fields(line)
        words = rest.split()
        wnid = words[0] if words else ""
        if wnid not in classes:
            if no == 1 and not out:
                continue  # a header line (LOC_val_solution.csv: ImageId,PredictionString)
            raise DatasetError(f"{path}:{no}: {wnid or '(nothing)'!r} is not a class of train/ "
                               "(expected 'filename wnid' lines); fix the labels file")
        out[name.strip()] = classes[wnid]
    if not out:
        raise DatasetError(f"{path}: no 'filename wnid' lines")
    return out


def _fields(line: str) -> tuple[str, str]:
    """(filename, the rest): split at the first comma if there is one, else at the first blank."""
    if "," in line:
        name, _, rest = line.partition(",")
        return name, rest
    parts = line.split(None, 1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _flat_val(root: Path, classes: dict[str, int]) -> tuple[list[Sample], str]:
    val_dir = root / "val"
    files = _images_in(val_dir)
    label_file = next((root / f for f in LABEL_FILES if (root / f).is_file()), None)
    if label_file is None:
        raise DatasetError(f"{val_dir}: images without class folders need a labels file "
                           f"({', '.join(LABEL_FILES)}) with 'filename wnid' lines")
    labels = parse_labels(label_file, classes)
    samples, unlabelled = [], []
    for f in files:
        label = labels.get(f, labels.get(os.path.splitext(f)[0]))
        if label is None:
            unlabelled.append(f)
        else:
            samples.append((str(val_dir / f), label))
    if unlabelled:
        raise DatasetError(f"{val_dir}: {len(unlabelled)} image(s) have no line in {label_file} "
                           f"(first: {unlabelled[0]}); add them or move them out")
    if not samples:
        raise DatasetError(f"{val_dir}: no images")
    return samples, f"flat, labels from {label_file.name}"


def index_folder(root: str | os.PathLike) -> FolderIndex:
    """Scan `root` (see the module docstring for the layouts); errors say which file or folder is wrong."""
    root = Path(root)
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DatasetError(f"{root}: expected an ImageNet-style folder with train/<class>/ images")
    names = _class_folders(train_dir)
    if not names:
        raise DatasetError(f"{train_dir}: no class folders (expected train/<wnid>/*.JPEG)")
    classes = {c: i for i, c in enumerate(names)}
    train = _by_class(train_dir, classes, strict=True)
    if not train:
        raise DatasetError(f"{train_dir}: no images in the class folders")
    val_dir = root / "val"
    if not val_dir.is_dir():
        return FolderIndex(root, tuple(names), tuple(train), None, "absent")
    if _class_folders(val_dir):
        val = _by_class(val_dir, classes, strict=True)
        if not val:
            raise DatasetError(f"{val_dir}: no images in the class folders")
        return FolderIndex(root, tuple(names), tuple(train), tuple(val), "class folders")
    val, layout = _flat_val(root, classes)
    return FolderIndex(root, tuple(names), tuple(train), tuple(val), layout)
