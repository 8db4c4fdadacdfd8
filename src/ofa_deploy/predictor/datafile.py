"""An accuracy dataset on disk, read with numpy only: `meta.json`, `rows.csv` and the seeded
sequence of subnets its row indices refer to (see `predictor.dataset` for the whole story).

`rows.csv` is a `rowfile.RowStore`: one line per subnet, appended and flushed as soon as it is
measured: `index` (its position in the seeded sequence), the arch fields of the space's kind
(`ks e d`, ResNet50 `d e w`: space-separated values), `r`, `correct`, `images`, `accuracy` (a
fraction, 6 decimals) and `seconds` (3 decimals). Its key is `index`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError, SpaceError
from ..rowfile import RowFormat, RowStore, csv_line, duplicates
from ..space import (
    FamilyArch,
    FamilyBatch,
    FamilySpec,
    sample_archs,
    spec_from_dict,
)
from ..space.formats import arch_of_space
from ..space.genes import gene_space

DATASET_FORMAT = "ofa-deploy-accuracy-dataset"
DATASET_VERSION = 1
META_NAME = "meta.json"
ROWS_NAME = "rows.csv"
COLUMNS = ("index", "ks", "e", "d", "r", "correct", "images", "accuracy", "seconds")  # MobileNet family: `columns_for`
# meta.json fields that must be equal for a rerun to add rows to the same dataset.
IDENTITY = ("format", "version", "supernet_sha256", "space", "dataset", "bn_images", "val_images", "seed",
            "resolutions")


# ---- the sequence of subnets ------------------------------------------------------------------
def space_size(spec: FamilySpec) -> int:
    """Number of distinct subnets of the space (inactive slots ignored), all resolutions."""
    return len(spec.resolutions) * gene_space(spec).n_subnets()


def columns_for(spec: Any) -> tuple[str, ...]:
    """The `rows.csv` header of a space: the arch fields of its kind (`ks e d`, ResNet50 `d e w`)."""
    return (COLUMNS[0], *gene_space(spec).names, *COLUMNS[4:])


def arch_sequence(spec: FamilySpec, seed: int) -> Iterator[FamilyArch]:
    """Distinct subnets in a fixed order for `seed` (canonical form, inactive slots at the smallest choice)."""
    seen: set[FamilyArch] = set()
    size = space_size(spec)
    i = 0
    while len(seen) < size:
        arch = sample_archs(spec, 1, np.random.default_rng([seed, i])).to_archs()[0].canonical(spec)
        i += 1
        if arch not in seen:
            seen.add(arch)
            yield arch


def sample_plan(spec: FamilySpec, samples: int, seed: int) -> list[FamilyArch]:
    """The first `samples` subnets of the seeded sequence."""
    if samples < 1:
        raise SpaceError(f"--samples must be at least 1, got {samples}")
    size = space_size(spec)
    if samples > size:
        raise SpaceError(f"the space {spec.describe()} holds only {size} distinct subnets; ask for at most that many")
    seq = arch_sequence(spec, seed)
    return [next(seq) for _ in range(samples)]


# ---- rows.csv ---------------------------------------------------------------------------------
def _numbers(text: str) -> tuple[int | float, ...]:
    """Space-separated integers (kernel sizes, depths, widths) or numbers (ResNet50 expand ratios)."""
    return tuple(int(v) if v.lstrip("-").isdigit() else float(v) for v in text.split())


def _row_fields(row: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """A row's fields; `fields`: the arch fields of the kind (`columns_for`)."""
    a = row["arch"]
    return [str(row["index"]), *(" ".join(map(str, getattr(a, f))) for f in fields), str(a.r), str(row["correct"]),
            str(row["images"]), f"{row['correct'] / row['images']:.6f}", f"{row['seconds']:.3f}"]


def _index(row: dict[str, Any]) -> int:
    return row["index"]


def row_format(spec: Any) -> RowFormat[dict[str, Any]]:
    """How `rows.csv` spells the rows of a space's subnets (a blank line is passed over)."""
    columns = columns_for(spec)
    fields = columns[1:-5]

    def parse(rec: list[str], header: tuple[str, ...], source: Path, n: int) -> dict[str, Any] | None:
        if not rec:
            return None
        try:
            if len(rec) != len(columns):
                raise ValueError(f"{len(rec)} fields")
            v = dict(zip(columns, rec))
            if not 0 <= int(v["correct"]) <= int(v["images"]) or int(v["images"]) < 1:
                raise ValueError(f"correct {v['correct']} of {v['images']} images")
            arch = arch_of_space(spec, {**{f: list(_numbers(v[f])) for f in fields}, "r": int(v["r"])})
            return {"index": int(v["index"]), "arch": arch, "correct": int(v["correct"]), "images": int(v["images"]),
                    "accuracy": float(v["accuracy"]), "seconds": float(v["seconds"])}
        except (ValueError, SpaceError) as e:
            raise FormatError(f"{source}: line {n} is malformed ({e}); fix or delete that line") from None

    def bad_header(source: Path, header: tuple[str, ...], raw: str) -> Exception:
        return FormatError(f"{source}: unexpected header {raw!r}; expected {','.join(columns)}")

    return RowFormat(headers=(columns,), key=_index, parse=parse,
                     format=lambda row, header: _row_fields(row, header[1:-5]), bad_header=bad_header)


def rows_store(folder: str | os.PathLike, spec: Any) -> RowStore[dict[str, Any]]:
    """The `RowStore` of a dataset folder's `rows.csv`."""
    return RowStore(Path(folder) / ROWS_NAME, row_format(spec), "accuracy dataset")


def format_row(row: dict[str, Any], fields: tuple[str, ...] = COLUMNS[1:4]) -> str:
    """One `rows.csv` line (with its newline); `fields`: the arch fields of the kind (`columns_for`)."""
    return csv_line(_row_fields(row, fields))


def check_unique(rows: list[dict[str, Any]], folder: Path) -> None:
    """`FormatError` saying how to repair a dataset whose rows repeat a subnet (two builders at once)."""
    dups = [row["index"] for row in duplicates(rows, _index)]
    if dups:
        raise FormatError(f"{folder / ROWS_NAME} holds {len(dups)} repeated row(s) (first: index {dups[0]}), as left "
                          "by two `predictor dataset` runs writing one folder at once; repair it with "
                          f"`ofa-deploy predictor repair {folder}` (keeps every unique row), then fit again")


# ---- reading ----------------------------------------------------------------------------------
@dataclass
class AccuracyDataset:
    """Rows of a dataset folder as arrays (numpy only)."""

    path: Path
    meta: dict[str, Any]
    index: np.ndarray  # (N,) position of each subnet in the seeded sequence
    archs: FamilyBatch
    accuracy: np.ndarray  # (N,) validation top-1 as a fraction
    seconds: np.ndarray  # (N,) extract + BN recalibration + evaluation

    @property
    def spec(self) -> FamilySpec:
        return spec_from_dict(self.meta["space"])

    def __len__(self) -> int:
        return len(self.index)


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    p = Path(folder) / META_NAME
    if not p.exists():
        raise FormatError(f"{Path(folder)} is not an accuracy dataset (no {META_NAME}); build one with "
                          "`ofa-deploy predictor dataset --out DIR`")
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise FormatError(f"{p}: unreadable ({e}); delete the folder to start over") from None
    if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT:
        raise FormatError(f"{p}: not an ofa-deploy accuracy dataset (format {DATASET_FORMAT!r})")
    if meta.get("version") != DATASET_VERSION:
        raise FormatError(f"{p}: dataset version {meta.get('version')} is not supported ({DATASET_VERSION})")
    return meta


def load_accuracy_dataset(folder: str | os.PathLike) -> AccuracyDataset:
    """Read a dataset folder (complete rows only); `FormatError` if it is not one or holds no rows."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: no such dataset folder; build one with `ofa-deploy predictor dataset`")
    meta = read_meta(folder)
    spec = spec_from_dict(meta["space"])
    rows, _ = rows_store(folder, spec).read("skip")
    if not rows:
        raise FormatError(f"{folder} holds no measured subnets yet; run `ofa-deploy predictor dataset --out "
                          f"{folder}` first")
    check_unique(rows, folder)
    for row in rows:
        row["arch"].validate(spec)
    return AccuracyDataset(
        folder, meta,
        np.array([r["index"] for r in rows], dtype=np.int64),
        gene_space(spec).batch_of([r["arch"] for r in rows]),
        np.array([r["correct"] / r["images"] for r in rows], dtype=np.float64),  # exact, not the rounded column
        np.array([r["seconds"] for r in rows], dtype=np.float64),
    )


# ---- repair -----------------------------------------------------------------------------------
@dataclass
class DatasetRepair:
    folder: Path
    kept: int
    identical: int  # repeated rows with the same subnet and result (their timing aside), dropped
    conflicts: list[int] = field(default_factory=list)  # indices measured twice with other results: first kept
    torn: bytes = b""  # the half-written last line cut off the file (b"" if there was none)


def _same_result(first: dict[str, Any], later: dict[str, Any]) -> bool:
    return all(first[k] == later[k] for k in ("arch", "correct", "images"))


def repair_dataset(folder: str | os.PathLike) -> DatasetRepair:
    """Keep the first row of every subnet index in `rows.csv` (rewritten atomically, under the lock)."""
    folder = Path(folder)
    spec = spec_from_dict(read_meta(folder)["space"])
    r = rows_store(folder, spec).repair(_same_result)
    return DatasetRepair(folder, len(r.kept), r.identical, [first["index"] for first, _ in r.conflicts], r.torn)


def supernet_label(path: str | os.PathLike) -> str:
    """A short name for a supernet file: its folder for `<name>/supernet.pt`, else its stem."""
    p = Path(path)
    return p.parent.name if p.name == "supernet.pt" and p.parent.name else p.stem


__all__ = ["COLUMNS", "DATASET_FORMAT", "DATASET_VERSION", "IDENTITY", "META_NAME", "ROWS_NAME", "AccuracyDataset",
           "DatasetRepair", "arch_sequence", "check_unique", "columns_for", "format_row", "load_accuracy_dataset",
           "read_meta", "repair_dataset", "row_format", "rows_store", "sample_plan", "space_size", "supernet_label"]
