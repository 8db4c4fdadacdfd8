"""Building an accuracy dataset (torch, imported when a build starts): measure the seeded
sequence's subnets of a supernet into a dataset folder, resumably, on one process or under
torchrun (rank 0 the one writer). The folder's format is `predictor.datafile`; the whole story
is `predictor.dataset`'s docstring.

`DatasetBuilder`'s constructor only runs the steps below in order, each checking what it sets up
before any subnet is evaluated: the numbers, the supernet (and the resolutions), the image data
(`resolve_data_source`, `open_splits`), the dataset's `meta.json`, and the folder (`_take_folder`:
rank 0 locks it and reads the rows already there; the other ranks learn which are left).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import checks
from ..errors import CheckpointError, FormatError, SpaceError
from ..fsio import WriterLock, atomic_write_text, sha256_file, writer_lock
from ..outputs import check_output
from ..space import FamilyArch, FamilySpec
from .datafile import (
    DATASET_FORMAT,
    DATASET_VERSION,
    IDENTITY,
    META_NAME,
    ROWS_NAME,
    check_unique,
    read_meta,
    rows_store,
    sample_plan,
)

ProgressFn = Callable[[dict[str, Any]], None]


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


def resolve_data_source(data: DataSource | None, supernet_meta: dict[str, Any], supernet_path: Path,
                        dataset_kind: str | None, data_root: str | None) -> DataSource:
    """The image data a dataset is measured on: `data` if given, else the supernet's training
    recipe's (`data_source_for`); `dataset_kind` / `data_root` (the CLI's --dataset, --data)
    override it, an ImageNet-style folder given with --data alone being `imagenet`."""
    if data is None:
        try:
            data = data_source_for(supernet_meta)
        except FormatError as e:
            if dataset_kind is None:
                raise FormatError(f"cannot tell which data trained {supernet_path} ({e}); give "
                                  "--dataset (and --data)") from None
            data = DataSource()
    kind = dataset_kind
    if kind is None and data_root is not None and (Path(data_root) / "train").is_dir():
        kind = "imagenet"  # an ImageNet-style folder given with --data
    if kind is not None or data_root is not None:
        data = replace(data, kind=kind or data.kind, root=data_root if data_root is not None else data.root)
    if kind in ("imagenet", "folder") and dataset_kind is None and data.val_size == 5000:
        data = replace(data, val_size=10000)  # upstream's accuracy target: a 10K hold-out of train
    return data


def open_splits(data: DataSource, splits: Any, workers: int | None, skip_bad_images: bool) -> tuple[DataSource, Any]:
    """(the data, its splits): `splits` if given (tests), else opened from `data`; an image folder
    smaller than the hold-out has a fifth of it held out (the returned data says so)."""
    from ..data import as_source, open_source

    if splits is None and data.kind in ("imagenet", "folder") and data.root is not None:
        from ..data.folder import index_folder
        from ..data.imagenet import ImageFolderSource

        index = index_folder(data.root)
        n = len(index.train)  # a folder smaller than the hold-out: a fifth of it is held out
        val_size = data.val_size if data.val_size < n else max(1, n // 5)
        data = replace(data, val_size=val_size)
        splits = ImageFolderSource(data.root, val_size, workers, skip_bad_images, index=index)
    if splits is None:
        splits = open_source(data.kind, data.root, data.val_size, data.split_seed, workers, skip_bad_images)
    return data, as_source(splits)  # `Splits` (tests) or a DataSource: one interface


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
    plan: list[FamilyArch] = field(init=False)
    done: dict[int, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        from ..dist import dist_info

        self.out, self.supernet_path = Path(self.out), Path(self.supernet_path)
        self.rank, self.world = dist_info()
        self._lock: WriterLock | None = None
        check_output(self.out, "dataset", self.force)
        self._check_numbers()  # every number first: nothing is loaded, sampled or written with a bad one
        self._load_supernet()
        self.plan = sample_plan(self.sample_spec, self.samples, self.seed)
        self.data = resolve_data_source(self.data, getattr(self.supernet, "checkpoint_meta", {}), self.supernet_path,
                                        self.dataset_kind, self.data_root)
        self.data, self.splits = open_splits(self.data, self.splits, self.workers, self.skip_bad_images)
        self._check_splits()
        self.meta = self._dataset_meta()
        self._take_folder()

    def _check_numbers(self) -> None:
        checks.count(self.samples, "--samples", checks.MAX_SUBNETS)
        checks.seed(self.seed)
        checks.count(self.val_images, "--val-images", checks.MAX_IMAGES, optional=True)  # None: all of them
        checks.count(self.bn_images, "--bn-images", checks.MAX_IMAGES)
        checks.threads(self.threads)
        checks.count(self.bn_batch, "--bn-batch", 100000, optional=True)
        if self.bn_transform not in (None, "train", "eval"):
            raise FormatError(f"--bn-transform {self.bn_transform!r}: choose train or eval")

    def _load_supernet(self) -> None:
        """The torch device and threads, the supernet on that device, and the resolutions checked."""
        import torch

        from ..dist import torch_device
        from ..nn import load_supernet

        self.torch_device = torch_device(self.device)
        if self.threads:
            torch.set_num_threads(self.threads)
        elif self.world > 1 and self.torch_device.type == "cpu":
            # N processes on one machine: torch's default (every core, each) would oversubscribe it N times
            local = int(os.environ.get("LOCAL_WORLD_SIZE", self.world))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        self.supernet = load_supernet(self.supernet_path).to(self.torch_device, memory_format=torch.channels_last)
        spec: FamilySpec = self.supernet.spec
        if self.resolutions is not None:
            bad = [r for r in self.resolutions if r not in spec.resolutions]
            if bad or not self.resolutions:
                raise SpaceError(f"--resolutions {list(self.resolutions)}: each must be one of the space's "
                                 f"{list(spec.resolutions)}")
            self.resolutions = tuple(sorted({int(r) for r in self.resolutions}))

    def _check_splits(self) -> None:
        spec = self.spec
        if (self.splits.in_channels, self.splits.n_classes) != (spec.in_channels, spec.n_classes):
            raise CheckpointError(
                f"dataset {self.splits.name} has {self.splits.in_channels} channel(s) and {self.splits.n_classes} "
                f"classes; the supernet has {spec.in_channels} and {spec.n_classes}: give the dataset it was "
                "trained on (--dataset, --data)"
            )

    def _dataset_meta(self) -> dict[str, Any]:
        """`meta.json`: what the rows are measured on and how (`IDENTITY`: what a rerun must match)."""
        assert self.data is not None
        n_val = self.splits.split_size("val")
        dataset = {"name": self.splits.name, "kind": self.data.kind, "split": "val", "val_size": n_val,
                   "split_seed": self.data.split_seed}
        if self.splits.name.startswith("folder:") or self.bn_transform is not None:
            dataset["bn_transform"] = self.bn_transform or self.splits.bn_transform  # part of what was measured
        return {
            "format": DATASET_FORMAT,
            "version": DATASET_VERSION,
            "supernet": str(self.supernet_path.resolve()),
            "supernet_sha256": file_sha256(self.supernet_path),
            "space": self.spec.to_dict(),
            "dataset": dataset,
            "bn_images": (min(self.bn_images, n_val) if not self.splits.name.startswith("folder:")
                          else min(self.bn_images, self.splits.split_size("train"))),
            "val_images": n_val if self.val_images is None else min(self.val_images, n_val),
            "seed": self.seed,
            **({"resolutions": list(self.resolutions)} if self.resolutions is not None else {}),
            "sampling": "uniform per choice (upstream), distinct subnets, i-th from default_rng([seed, i])",
            "samples": self.samples,
        }

    def _take_folder(self) -> None:
        """One writer (rank 0): holds the lock from reading the rows already there until `run` ends (or
        this builder is dropped); the other ranks learn from it which subnets are left."""
        error: str | None = None
        self.done = {}
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
    def spec(self) -> FamilySpec:
        return self.supernet.spec

    @property
    def sample_spec(self) -> FamilySpec:
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
        rows, _ = rows_store(self.out, self.spec).read("cut")
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

    def evaluate(self, arch: FamilyArch) -> tuple[int, int]:
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
        shares = self.shares()
        expected = [set(share) for share in shares]
        inbox = _Inbox(shares, self.world)
        with closing(rows_store(self.out, self.spec).appender(fsync=True)) as rows:

            def write(row: dict[str, Any]) -> bool:
                nonlocal new
                rows.write(row)
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


__all__ = ["DataSource", "DatasetBuilder", "ProgressFn", "build_dataset", "data_source_for", "file_sha256",
           "open_splits", "resolve_data_source"]
