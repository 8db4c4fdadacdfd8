"""Accuracy datasets: sampled subnets of one supernet and their measured validation top-1.

An accuracy predictor (Cai et al., "Once for All", ICLR 2020, section 3.4) is fitted on
`(arch, accuracy)` pairs measured on the supernet it will stand in for. Building the pairs is the
slow part (each subnet is extracted, its BN statistics recalibrated, then evaluated), so a dataset
is a folder written as it goes and resumed from what is there:

- `meta.json`: what the rows were measured on and how (supernet path and sha256, space, image
  dataset and its validation split, BN and evaluation images, sampling seed); a rerun with other
  settings is refused rather than mixing two kinds of rows;
- `rows.csv`: one line per subnet, appended and flushed as soon as it is measured: `index` (its
  position in the seeded sequence of subnets), `ks`, `e`, `d` (space-separated values), `r`,
  `correct`, `images`, `accuracy` (a fraction) and `seconds` (extract + BN + evaluation). A line
  cut short by an interruption is dropped on the next run.

Subnets are drawn as upstream samples them (every kernel size, expand ratio, depth and resolution
uniform and independent), the `i`-th from its own generator `default_rng([seed, i])`, and duplicates
(equal once inactive slots are ignored) are skipped: the first N subnets of a seed never change,
so `--samples` can be raised later and the new rows extend the old ones.

Accuracy is measured on the validation split carved from the training images (the test split is
kept for final reports). `device` puts BN recalibration and evaluation on CUDA (`--device cuda`).

Under `torchrun --nproc_per_node N` the subnets still to measure are dealt out (rank k takes every
N-th, from the k-th); rank 0 is the one writer: it holds the folder's lock, reads the rows already
there, tells the other ranks what is left, and appends every rank's rows as they arrive (each a
few numbers sent point to point: the subnet is the index's, known to all). Nothing is written twice
and only the rows in flight at an interruption are measured again on the rerun, on any number of
processes. Reading a dataset needs numpy only; building one needs torch, imported
when a build starts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import checks
from ..errors import CheckpointError, FormatError, SpaceError
from ..fsio import WriterLock, append_text, atomic_write_text, sha256_file, writer_lock
from ..outputs import check_output
from ..rowfile import complete_lines, read_complete
from ..space import Arch, ArchBatch, SpaceSpec, sample_archs
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

ProgressFn = Callable[[dict[str, Any]], None]


# ---- the sequence of subnets ------------------------------------------------------------------
def space_size(spec: SpaceSpec) -> int:
    """Number of distinct subnets of the space (inactive slots ignored), all resolutions."""
    return len(spec.resolutions) * gene_space(spec).n_subnets()


def columns_for(spec: Any) -> tuple[str, ...]:
    """The `rows.csv` header of a space: the arch fields of its kind (`ks e d`, ResNet50 `d e w`)."""
    return (COLUMNS[0], *gene_space(spec).names, *COLUMNS[4:])


def arch_sequence(spec: SpaceSpec, seed: int) -> Iterator[Arch]:
    """Distinct subnets in a fixed order for `seed` (canonical form, inactive slots at the smallest choice)."""
    seen: set[Arch] = set()
    size = space_size(spec)
    i = 0
    while len(seen) < size:
        arch = sample_archs(spec, 1, np.random.default_rng([seed, i])).to_archs()[0].canonical(spec)
        i += 1
        if arch not in seen:
            seen.add(arch)
            yield arch


def sample_plan(spec: SpaceSpec, samples: int, seed: int) -> list[Arch]:
    """The first `samples` subnets of the seeded sequence."""
    if samples < 1:
        raise SpaceError(f"--samples must be at least 1, got {samples}")
    size = space_size(spec)
    if samples > size:
        raise SpaceError(f"the space {spec.describe()} holds only {size} distinct subnets; ask for at most that many")
    seq = arch_sequence(spec, seed)
    return [next(seq) for _ in range(samples)]


# ---- reading ----------------------------------------------------------------------------------
@dataclass
class AccuracyDataset:
    """Rows of a dataset folder as arrays (numpy only)."""

    path: Path
    meta: dict[str, Any]
    index: np.ndarray  # (N,) position of each subnet in the seeded sequence
    archs: ArchBatch
    accuracy: np.ndarray  # (N,) validation top-1 as a fraction
    seconds: np.ndarray  # (N,) extract + BN recalibration + evaluation

    @property
    def spec(self) -> SpaceSpec:
        return SpaceSpec.from_dict(self.meta["space"])

    def __len__(self) -> int:
        return len(self.index)


def _numbers(text: str) -> tuple[int | float, ...]:
    """Space-separated integers (kernel sizes, depths, widths) or numbers (ResNet50 expand ratios)."""
    return tuple(int(v) if v.lstrip("-").isdigit() else float(v) for v in text.split())


def _parse_rows(text: str, source: Path, spec: Any) -> list[dict[str, Any]]:
    """Complete lines of rows.csv as dicts; a malformed line is an error naming its number."""
    lines = text.splitlines()
    if not lines:
        return []
    columns = columns_for(spec)
    fields = columns[1:-5]
    header = tuple(lines[0].split(","))
    if header != columns:
        raise FormatError(f"{source}: unexpected header {lines[0]!r}; expected {','.join(columns)}")
    rows = []
    for n, rec in enumerate(csv.reader(io.StringIO("\n".join(lines[1:]))), start=2):
        if not rec:
            continue
        try:
            if len(rec) != len(columns):
                raise ValueError(f"{len(rec)} fields")
            v = dict(zip(columns, rec))
            if not 0 <= int(v["correct"]) <= int(v["images"]) or int(v["images"]) < 1:
                raise ValueError(f"correct {v['correct']} of {v['images']} images")
            arch = arch_of_space(spec, {**{f: list(_numbers(v[f])) for f in fields}, "r": int(v["r"])})
            rows.append({"index": int(v["index"]), "arch": arch,
                         "correct": int(v["correct"]), "images": int(v["images"]),
                         "accuracy": float(v["accuracy"]), "seconds": float(v["seconds"])})
        except (ValueError, SpaceError) as e:
            raise FormatError(f"{source}: line {n} is malformed ({e}); fix or delete that line") from None
    return rows


def _complete_text(path: Path, repair: bool) -> str:
    """The file's text up to its last newline; with `repair`, a half-written tail is cut off on disk."""
    return complete_lines(path, repair)[0].decode("utf-8")


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
    spec = SpaceSpec.from_dict(meta["space"])
    rows = _parse_rows(_complete_text(folder / ROWS_NAME, repair=False), folder / ROWS_NAME, spec)
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


def check_unique(rows: list[dict[str, Any]], folder: Path) -> None:
    """`FormatError` saying how to repair a dataset whose rows repeat a subnet (two builders at once)."""
    seen: set[int] = set()
    dups = []
    for row in rows:
        if row["index"] in seen:
            dups.append(row["index"])
        seen.add(row["index"])
    if dups:
        raise FormatError(f"{folder / ROWS_NAME} holds {len(dups)} repeated row(s) (first: index {dups[0]}), as left "
                          "by two `predictor dataset` runs writing one folder at once; repair it with "
                          f"`ofa-deploy predictor repair {folder}` (keeps every unique row), then fit again")


def format_row(row: dict[str, Any], fields: tuple[str, ...] = COLUMNS[1:4]) -> str:
    """One `rows.csv` line (with its newline); `fields`: the arch fields of the kind (`columns_for`)."""
    a = row["arch"]
    return ",".join((str(row["index"]), *(" ".join(map(str, getattr(a, f))) for f in fields),
                     str(a.r), str(row["correct"]), str(row["images"]), f"{row['correct'] / row['images']:.6f}",
                     f"{row['seconds']:.3f}")) + "\n"


@dataclass
class DatasetRepair:
    folder: Path
    kept: int
    identical: int  # repeated rows with the same subnet and result (their timing aside), dropped
    conflicts: list[int] = field(default_factory=list)  # indices measured twice with other results: first kept
    torn: bytes = b""  # the half-written last line cut off the file (b"" if there was none)


def repair_dataset(folder: str | os.PathLike) -> DatasetRepair:
    """Keep the first row of every subnet index in `rows.csv` (rewritten atomically, under the lock)."""
    folder = Path(folder)
    spec = SpaceSpec.from_dict(read_meta(folder)["space"])
    with writer_lock(folder, "accuracy dataset"):
        path = folder / ROWS_NAME
        raw, torn = read_complete(path, "cut")
        rows = _parse_rows(raw.decode("utf-8"), path, spec)
        first: dict[int, dict[str, Any]] = {}
        result = DatasetRepair(folder, 0, 0, torn=torn)
        for row in rows:
            i = row["index"]
            if i not in first:
                first[i] = row
            elif all(first[i][k] == row[k] for k in ("arch", "correct", "images")):
                result.identical += 1
            else:
                result.conflicts.append(i)
        result.kept = len(first)
        if result.identical or result.conflicts:
            atomic_write_text(path, ",".join(columns_for(spec)) + "\n" + "".join(format_row(r, gene_space(spec).names) for r in first.values()))
    return result


# ---- building ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSource:
    """Which image dataset and which validation split: the one the supernet was trained beside."""

    kind: str = "fashion-mnist"
    root: str | None = None
    val_size: int = 5000
    split_seed: int = 0


def data_source_for(supernet_meta: dict[str, Any]) -> DataSource:
    """The data settings of the recipe that trained a supernet (so its validation split is held out).

    `ofa-deploy train` records `recipe` and `recipe_source` in the checkpoint; without them the
    Fashion-MNIST defaults are used.
    """
    from ..train.recipe import load_recipe

    source = str(supernet_meta.get("recipe_source") or "")
    name = supernet_meta.get("recipe")
    if source and Path(source).is_file():
        target: str | None = source
    elif source.startswith("recipes/") and source.endswith(".yaml"):
        target = source[len("recipes/"):-len(".yaml")]
    else:
        target = str(name) if name else None
    if target is None:
        return DataSource()
    recipe = load_recipe(target)
    d = recipe.data
    return DataSource(str(d.get("kind", "fashion-mnist")), d.get("root"), int(d.get("val_size", 5000)), recipe.seed)


file_sha256 = sha256_file


@dataclass
class DatasetBuilder:
    """Measure the first `samples` subnets of the seeded sequence into `out`, skipping those done.

    Construction checks everything (supernet, data, an existing folder's settings) before any
    subnet is evaluated; `run()` does the work and can be interrupted at any point.
    """

    out: Path
    supernet_path: Path
    samples: int = 400
    seed: int = 0
    val_images: int | None = None
    bn_images: int = 2000
    data: DataSource | None = None  # default: the supernet's training recipe's data (`data_source_for`)
    threads: int | None = None
    splits: Any = None  # preloaded `Splits` (tests); loaded from `data` otherwise
    dataset_kind: str | None = None  # overrides of the derived `data` (CLI --dataset, --data)
    data_root: str | None = None
    force: bool = False  # accept an --out folder that holds another kind of output
    bn_batch: int | None = None  # BN calibration batch (--bn-batch); default: the source's own
    bn_transform: str | None = None  # "train" | "eval" (--bn-transform); default: the source's own
    workers: int | None = None  # image-reading processes for an ImageNet-style folder
    skip_bad_images: bool = False
    device: str = "cpu"  # where BN recalibration and evaluation run: cpu, cuda, cuda:N
    resolutions: tuple[int, ...] | None = None  # sample only these of the space's resolutions (default: all)
    meta: dict[str, Any] = field(init=False)
    plan: list[Arch] = field(init=False)
    done: dict[int, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        import torch

        from ..data import as_source, open_source
        from ..dist import dist_info, torch_device
        from ..nn import load_supernet

        self.out, self.supernet_path = Path(self.out), Path(self.supernet_path)
        self.rank, self.world = dist_info()
        self._lock: WriterLock | None = None
        check_output(self.out, "dataset", self.force)
        # every number first: nothing is loaded, sampled or written with a bad one
        checks.count(self.samples, "--samples", checks.MAX_SUBNETS)
        checks.seed(self.seed)
        checks.count(self.val_images, "--val-images", checks.MAX_IMAGES, optional=True)  # None: all of them
        checks.count(self.bn_images, "--bn-images", checks.MAX_IMAGES)
        checks.threads(self.threads)
        checks.count(self.bn_batch, "--bn-batch", 100000, optional=True)
        if self.bn_transform not in (None, "train", "eval"):
            raise FormatError(f"--bn-transform {self.bn_transform!r}: choose train or eval")
        self.torch_device = torch_device(self.device)
        if self.threads:
            torch.set_num_threads(self.threads)
        elif self.world > 1 and self.torch_device.type == "cpu":
            # N processes on one machine: torch's default (every core, each) would oversubscribe it N times
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        self.supernet = load_supernet(self.supernet_path).to(self.torch_device, memory_format=torch.channels_last)
        spec: SpaceSpec = self.supernet.spec
        if self.resolutions is not None:
            bad = [r for r in self.resolutions if r not in spec.resolutions]
            if bad or not self.resolutions:
                raise SpaceError(f"--resolutions {list(self.resolutions)}: each must be one of the space's "
                                 f"{list(spec.resolutions)}")
            self.resolutions = tuple(sorted({int(r) for r in self.resolutions}))
        self.plan = sample_plan(self.sample_spec, self.samples, self.seed)
        if self.data is None:
            try:
                self.data = data_source_for(getattr(self.supernet, "checkpoint_meta", {}))
            except FormatError as e:
                if self.dataset_kind is None:
                    raise FormatError(f"cannot tell which data trained {self.supernet_path} ({e}); give "
                                      "--dataset (and --data)") from None
                self.data = DataSource()
        kind = self.dataset_kind
        if kind is None and self.data_root is not None and (Path(self.data_root) / "train").is_dir():
            kind = "imagenet"  # an ImageNet-style folder given with --data
        if kind is not None or self.data_root is not None:
            self.data = replace(self.data, kind=kind or self.data.kind,
                                root=self.data_root if self.data_root is not None else self.data.root)
        if kind in ("imagenet", "folder") and self.dataset_kind is None and self.data.val_size == 5000:
            self.data = replace(self.data, val_size=10000)  # upstream's accuracy target: a 10K hold-out of train
        if self.splits is None and self.data.kind in ("imagenet", "folder") and self.data.root is not None:
            from ..data.folder import index_folder
            from ..data.imagenet import ImageFolderSource

            index = index_folder(self.data.root)
            n = len(index.train)  # a folder smaller than the hold-out: a fifth of it is held out
            val_size = self.data.val_size if self.data.val_size < n else max(1, n // 5)
            self.data = replace(self.data, val_size=val_size)
            self.splits = ImageFolderSource(self.data.root, val_size, self.workers, self.skip_bad_images, index=index)
        if self.splits is None:
            self.splits = open_source(self.data.kind, self.data.root, self.data.val_size, self.data.split_seed,
                                      self.workers, self.skip_bad_images)
        self.splits = as_source(self.splits)  # `Splits` (tests) or a DataSource: one interface
        if (self.splits.in_channels, self.splits.n_classes) != (spec.in_channels, spec.n_classes):
            raise CheckpointError(
                f"dataset {self.splits.name} has {self.splits.in_channels} channel(s) and {self.splits.n_classes} "
                f"classes; the supernet has {spec.in_channels} and {spec.n_classes}: give the dataset it was "
                "trained on (--dataset, --data)"
            )
        n_val = self.splits.split_size("val")
        dataset = {"name": self.splits.name, "kind": self.data.kind, "split": "val", "val_size": n_val,
                   "split_seed": self.data.split_seed}
        if self.splits.name.startswith("folder:") or self.bn_transform is not None:
            dataset["bn_transform"] = self.bn_transform or self.splits.bn_transform  # part of what was measured
        self.meta = {
            "format": DATASET_FORMAT,
            "version": DATASET_VERSION,
            "supernet": str(self.supernet_path.resolve()),
            "supernet_sha256": file_sha256(self.supernet_path),
            "space": spec.to_dict(),
            "dataset": dataset,
            "bn_images": (min(self.bn_images, n_val) if not self.splits.name.startswith("folder:")
                          else min(self.bn_images, self.splits.split_size("train"))),
            "val_images": n_val if self.val_images is None else min(self.val_images, n_val),
            "seed": self.seed,
            **({"resolutions": list(self.resolutions)} if self.resolutions is not None else {}),
            "sampling": "uniform per choice (upstream), distinct subnets, i-th from default_rng([seed, i])",
            "samples": self.samples,
        }
        # One writer (rank 0): holds the lock from reading the rows already there until `run` ends (or this
        # builder is dropped); the other ranks learn from it which subnets are left.
        error: str | None = None
        if self.rank == 0:
            self._lock = writer_lock(self.out, "accuracy dataset")
            try:
                self.done = self._existing()
            except BaseException as e:
                self.close()
                if self.world == 1:
                    raise
                error, failure = str(e), e
        if self.world > 1:
            import torch.distributed as dist

            shared = [sorted(self.done) if self.rank == 0 and error is None else None, error]
            dist.broadcast_object_list(shared, src=0)
            if shared[1] is not None:
                if self.rank == 0:
                    raise failure
                raise FormatError(shared[1])
            if self.rank != 0:
                self.done = {i: {} for i in shared[0]}  # indices only: rank 0 holds and writes the rows

    def close(self) -> None:
        """Release the folder's writer lock (after `run`, or when a builder is not run)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def spec(self) -> SpaceSpec:
        return self.supernet.spec

    @property
    def sample_spec(self) -> SpaceSpec:
        """The space the subnets are drawn from: the supernet's, with only `resolutions` when given."""
        if self.resolutions is None:
            return self.spec
        return replace(self.spec, resolutions=tuple(self.resolutions))

    @property
    def rows_path(self) -> Path:
        return self.out / ROWS_NAME

    @property
    def remaining(self) -> list[int]:
        return [i for i in range(len(self.plan)) if i not in self.done]

    def _existing(self) -> dict[int, dict[str, Any]]:
        """Rows already measured (the half-written last line, if any, is cut off); refuses other settings."""
        meta_path = self.out / META_NAME
        if not meta_path.exists():
            if self.rows_path.exists() and self.rows_path.stat().st_size:
                raise FormatError(f"{self.rows_path} exists without {META_NAME}; choose another --out or delete it")
            return {}
        old = read_meta(self.out)
        differs = [k for k in IDENTITY if old.get(k) != self.meta.get(k)]
        if differs:
            what = ", ".join(f"{k} ({_short(old.get(k))} there, {_short(self.meta.get(k))} now)" for k in differs)
            raise FormatError(f"{self.out} holds a dataset measured with other settings: {what}; use the same "
                              "supernet and settings to resume, or choose another --out")
        rows = _parse_rows(_complete_text(self.rows_path, repair=True), self.rows_path, self.spec)
        check_unique(rows, self.out)
        done: dict[int, dict[str, Any]] = {}
        top = max((r["index"] for r in rows), default=-1)
        if top >= max(len(self.plan), 1_000_000):
            raise FormatError(f"{self.rows_path}: row index {top} is out of range; fix or delete that line")
        expected = self.plan if top < len(self.plan) else sample_plan(self.sample_spec, top + 1, self.seed)
        for row in rows:
            i = row["index"]
            if i < 0 or row["arch"] != expected[i] or i in done:
                raise FormatError(f"{self.rows_path}: row with index {i} does not belong to seed {self.seed} "
                                  "(or is repeated); choose another --out or delete the folder")
            done[i] = row
        return done

    def _write_meta(self) -> None:
        atomic_write_text(self.out / META_NAME, json.dumps(self.meta, indent=2) + "\n")

    def evaluate(self, arch: Arch) -> tuple[int, int]:
        """(correct, images) of one subnet on the validation images, after BN recalibration (on `device`)."""
        import torch

        from ..nn.bn import recalibrate_bn
        from ..train.evaluate import source_top1

        dev = self.torch_device
        sub = self.supernet.extract(arch).to(memory_format=torch.channels_last)
        batch = {} if self.bn_batch is None else {"batch_size": self.bn_batch}
        batches = self.splits.bn_batches(arch.r, self.meta["bn_images"], transform=self.bn_transform, **batch)
        recalibrate_bn(sub, (x.to(dev, non_blocking=True) for x in batches))
        n = self.meta["val_images"]
        return round(source_top1(sub.eval(), self.splits, "val", arch.r, n) * n / 100.0), n

    def _measure(self, i: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        correct, images = self.evaluate(self.plan[i])
        if self.torch_device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.torch_device)
        return self._row(i, correct, images, time.perf_counter() - t0)

    def _row(self, i: int, correct: int, images: int, seconds: float) -> dict[str, Any]:
        return {"index": i, "arch": self.plan[i], "correct": correct, "images": images,
                "accuracy": correct / images, "seconds": seconds}

    def shares(self) -> list[list[int]]:
        """The remaining subnets of each rank: rank k measures every `world`-th, from the k-th."""
        todo = self.remaining
        return [todo[k::self.world] for k in range(self.world)]

    def run(self, progress: ProgressFn | None = None, stop_after: int | None = None) -> dict[str, Any]:
        """Measure every remaining subnet (this rank's share under torchrun), appending one flushed row
        each; returns a summary (rank 0: of the dataset; another rank: of its share). `stop_after`:
        rank 0 stops once it has written that many new rows (`{"stopped": True, ...}`; testing resume)."""
        if self.rank == 0 and self._lock is None:
            self._lock = writer_lock(self.out, "accuracy dataset")
        try:
            if self.rank != 0:
                return self._send_share()
            return self._run(progress, stop_after)
        finally:
            self.close()

    def _send_share(self) -> dict[str, Any]:
        """Another rank: measure this rank's share and send each row to rank 0 as soon as it is measured."""
        import torch
        import torch.distributed as dist

        started, sends = time.time(), []
        share = self.shares()[self.rank]
        for j, i in enumerate(share):
            row = self._measure(i)
            msg = torch.tensor([i, row["correct"], row["images"], row["seconds"]], dtype=torch.float64)
            sends.append((dist.isend(msg, dst=0, tag=j), msg))  # the tensor lives until its send completes
        for work, _ in sends:
            work.wait()
        return {"rank": self.rank, "new": len(share), "wall_seconds": round(time.time() - started, 1)}

    def _run(self, progress: ProgressFn | None, stop_after: int | None) -> dict[str, Any]:
        self._write_meta()
        new = 0
        started = time.time()
        if not self.rows_path.exists() or self.rows_path.stat().st_size == 0:
            atomic_write_text(self.rows_path, ",".join(columns_for(self.spec)) + "\n")
        shares = self.shares()
        expected = [set(share) for share in shares]
        inbox = _Inbox(shares, self.world)
        names = gene_space(self.spec).names
        with open(self.rows_path, "a", newline="") as f:

            def write(row: dict[str, Any]) -> bool:
                nonlocal new
                append_text(f, format_row(row, names), self.rows_path, fsync=True)
                self.done[row["index"]] = row
                new += 1
                if progress is not None:
                    progress({"done": len(self.done), "total": len(self.plan), "index": row["index"],
                              "arch": row["arch"], "accuracy": row["accuracy"], "seconds": row["seconds"]})
                return stop_after is not None and new >= stop_after

            def take(block: bool) -> bool:
                for k, i, correct, images, seconds in inbox.arrived(block):
                    if i not in expected[k]:
                        raise FormatError(f"rank {k} sent a row for subnet {i}, which is not in its share")
                    expected[k].discard(i)
                    if write(self._row(i, correct, images, seconds)):
                        return True
                return False

            for i in shares[0]:
                if write(self._measure(i)) or take(block=False):
                    return {**self.summary(new, time.time() - started), "stopped": True}
            if take(block=True):
                return {**self.summary(new, time.time() - started), "stopped": True}
        return self.summary(new, time.time() - started)

    def summary(self, new: int = 0, wall: float = 0.0) -> dict[str, Any]:
        from ..data.source import skipped_images

        rows = [self.done[i] for i in sorted(self.done) if i < len(self.plan)]
        acc = np.array([r["accuracy"] for r in rows]) if rows else np.zeros(0)
        secs = np.array([r["seconds"] for r in rows]) if rows else np.zeros(0)
        return {
            "path": str(self.out), "rows": len(rows), "samples": len(self.plan), "new": new,
            "wall_seconds": round(wall, 1),
            "seconds_per_subnet": round(float(secs.mean()), 3) if len(secs) else None,
            "accuracy": ({"min": float(acc.min()), "mean": float(acc.mean()), "max": float(acc.max())}
                         if len(acc) else None),
            "supernet": self.meta["supernet"], "space": self.spec.describe(), "dataset": self.meta["dataset"],
            "val_images": self.meta["val_images"], "bn_images": self.meta["bn_images"], "seed": self.seed,
            "device": str(self.torch_device), "processes": self.world,
            "skipped_images": skipped_images(self.splits),  # unreadable images read past (skip_bad_images)
        }


class _Inbox:
    """Rank 0's receipts of the other ranks' rows: one posted receive per expected row (tagged with its
    position in the sender's share, so that nothing depends on the order of arrival)."""

    def __init__(self, shares: list[list[int]], world: int):
        self.pending: list[list[tuple[Any, Any]]] = [[] for _ in range(world)]
        if world == 1:
            return
        import torch
        import torch.distributed as dist

        for k in range(1, world):
            for j in range(len(shares[k])):
                buf = torch.zeros(4, dtype=torch.float64)
                self.pending[k].append((dist.irecv(buf, src=k, tag=j), buf))

    def arrived(self, block: bool) -> Iterator[tuple[int, int, int, int, float]]:
        """(sender, index, correct, images, seconds) of the rows received so far, in each sender's order;
        with `block`, of every row still expected."""
        for k, queue in enumerate(self.pending):
            while queue and (block or queue[0][0].is_completed()):
                work, buf = queue.pop(0)
                work.wait()
                i, correct, images, seconds = buf.tolist()
                yield k, int(i), int(correct), int(images), float(seconds)


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else v
    return text if len(text) <= 40 else text[:16] + "..."


def build_dataset(out: str | os.PathLike, supernet: str | os.PathLike, samples: int = 400, seed: int = 0,
                  val_images: int | None = None, bn_images: int = 2000, data: DataSource | None = None,
                  threads: int | None = None, progress: ProgressFn | None = None, splits: Any = None
                  ) -> dict[str, Any]:
    """Build (or resume) an accuracy dataset in `out`; see `DatasetBuilder`."""
    builder = DatasetBuilder(Path(out), Path(supernet), samples, seed, val_images, bn_images, data, threads,
                             splits)
    return builder.run(progress)


def supernet_label(path: str | os.PathLike) -> str:
    """A short name for a supernet file: its folder for `<name>/supernet.pt`, else its stem."""
    p = Path(path)
    return p.parent.name if p.name == "supernet.pt" and p.parent.name else p.stem


__all__ = ["COLUMNS", "DATASET_FORMAT", "AccuracyDataset", "DataSource", "DatasetBuilder", "DatasetRepair",
           "arch_sequence", "build_dataset", "data_source_for", "load_accuracy_dataset", "read_meta", "repair_dataset",
           "sample_plan", "space_size", "supernet_label"]
