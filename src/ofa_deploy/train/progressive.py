"""Progressive shrinking (Cai et al., "Once for All", ICLR 2020, section 3.3).

Train the full network first; then make one dimension elastic at a time: kernel size, depth (two
steps), expand ratio (two steps, channels sorted first); for ResNet50 (upstream's
`train_elastic_depth`, `train_elastic_expand`, `train_elastic_width_mult`) depth, expand ratio,
then width (its middle channels sorted first). What a phase restricts is the kind's
(`space.genes`: `phase_dims`, `sample_phase_arch`). Every step samples several subnets and a
random resolution (optionally always including the phase's largest subnet and, the sandwich rule
of BigNAS, its smallest); knowledge distillation uses the frozen full network from the end of the first
phase (upstream: the pretrained largest network as teacher). Learning rate: warm-up + cosine per
phase.

Data: the in-memory datasets (Fashion-MNIST, synthetic) train from one endless `BatchStream`, the
step's generator drawing its resolution; an ImageNet-style folder (`data.kind: imagenet`) is
streamed (`stream.SourceStream` over `DataSource.train_batches`: DataLoader workers, the official
train transform, the resolution drawn per batch by the loader as upstream's `MyRandomResizedCrop`,
the same on every rank, and a `DistributedSampler` share per rank under torchrun).

Runs are resumable: after every epoch the supernet, optimiser, data-stream state (the in-memory
stream's generators and order; a streamed source's (epoch, batch) position) and position in
the schedule are written atomically to `<out>/state.pt`, and a line is appended to `log.jsonl`;
`train(..., resume=True)` continues from there. A NaN or infinite loss stops the run with
`TrainingDiverged` before its update (non-finite weights at an epoch's end, before the save): the
last checkpoint stays the last good one. The recipe's batch size is the images of one step,
all processes together, so a recipe means the same optimisation on any process count. Under
torchrun every rank draws its own share of those images but the same subnets and resolution each
step; gradients are averaged with one all-reduce per step
(gloo on CPU, nccl on GPU) and BN statistics are averaged at every checkpoint, so all ranks hold
identical weights. (`DistributedDataParallel` is not used on purpose: its per-backward bucket
hooks assume one static graph per step, while a step here runs several different subnets.)
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import checks
from ..data import BatchStream
from ..data.batches import DEFAULT_CROP_FILL
from ..data.datasets import Splits
from ..data.source import ArraySource, DataSource, as_source, open_source, skipped_images
from ..dist import dist_info, threads_per_process
from ..dist import init_distributed as _init_distributed
from ..errors import CheckpointError, DatasetError, FormatError, OutputError, TrainingDiverged
from ..fsio import append_text, atomic_path, writer_lock
from ..nn.checkpoint import load_weights, new_supernet, save_any_supernet
from ..nn.registry import Supernet
from ..outputs import describe, identify
from ..rowfile import complete_lines
from ..space import (
    FamilyArch,
    FamilySpec,
    largest_arch,
    middle_arch,
    middle_choice,
    smallest_arch,
)
from ..space.genes import gene_space
from ..torchio import safe_torch_load, torch_save
from .evaluate import evaluate_arch
from .recipe import Phase, Recipe
from .stream import SourceStream

ProgressFn = Callable[[dict[str, Any]], None]


# ---- distributed helpers ------------------------------------------------------------------
def init_distributed() -> bool:
    """Join the process group when started by torchrun (WORLD_SIZE > 1). gloo, GPU or not: the trainer
    computes on the CPU, and nccl reduces only CUDA tensors."""
    return _init_distributed("gloo")


def average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    if world == 1:
        return
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def sync_model(model: torch.nn.Module, world: int, average_buffers: bool) -> None:
    """Broadcast parameters from rank 0 (start) or average BN buffers (checkpoints)."""
    if world == 1:
        return
    import torch.distributed as dist

    with torch.no_grad():
        if not average_buffers:
            for t in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(t.data, 0)
            return
        for name, b in model.named_buffers():
            if b.is_floating_point():
                dist.all_reduce(b.data)
                b.data /= world


# ---- the schedule -------------------------------------------------------------------------
def sample_arch(phase: Phase, recipe: Recipe, rng: np.random.Generator, r: int) -> FamilyArch:
    """A subnet among the phase's choices (the kind's `sample_phase_arch`)."""
    return gene_space(recipe.space).sample_phase_arch(phase, rng, r)


def lr_at(phase: Phase, step: int, total: int) -> float:
    if step < phase.warmup_steps:
        return phase.lr * (step + 1) / phase.warmup_steps
    t = (step - phase.warmup_steps) / max(1, total - phase.warmup_steps)
    return 0.5 * phase.lr * (1 + math.cos(math.pi * min(t, 1.0)))


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.sum(-target_probs * F.log_softmax(logits, dim=1), dim=1))


def make_optimizer(model: torch.nn.Module, recipe: Recipe, lr: float) -> torch.optim.SGD:
    """SGD with no weight decay on BN parameters, biases and kernel-transform matrices."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith("_matrix") else decay).append(p)
    return torch.optim.SGD([{"params": decay, "weight_decay": recipe.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def report_archs(recipe: Recipe) -> dict[str, FamilyArch]:
    spec = recipe.space
    r = spec.resolutions[-1]
    return {"largest": largest_arch(spec, r), "middle": middle_arch(spec, r), "smallest": smallest_arch(spec, r)}


def phase_arch(phase: Phase, spec: FamilySpec, pick: Callable[[list[int]], int], r: int) -> FamilyArch:
    """The subnet taking `pick` (max, min, ...) of the phase's choices everywhere (the kind's `phase_arch`)."""
    return gene_space(spec).phase_arch(phase, pick, r)


def phase_archs(phase: Phase, recipe: Recipe) -> dict[str, FamilyArch]:
    """Largest, middle and smallest subnets among the choices trained so far (for phase reports)."""
    spec, r = recipe.space, recipe.space.resolutions[-1]
    return {name: phase_arch(phase, spec, pick, r)
            for name, pick in (("largest", max), ("middle", middle_choice), ("smallest", min))}


# ---- training -----------------------------------------------------------------------------
class Trainer:
    def __init__(self, recipe: Recipe, out: Path, splits: Splits | DataSource | None = None,
                 progress: ProgressFn | None = None, threads: int | None = None):
        self.recipe, self.out = recipe, Path(out)
        check_run_folder(self.out)
        self.rank, self.world = dist_info()
        threads = threads_per_process(checks.threads(threads))  # under torchrun: cores / processes
        if threads is not None:
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads()  # what this process computes with (reported)
        data = recipe.data
        kind = data.get("kind", "fashion-mnist")
        self.source: DataSource = as_source(splits) if splits is not None else open_source(
            kind, data.get("root"), data.get("val_size"), recipe.seed, data.get("workers"),
            bool(data.get("skip_bad_images", False)))
        self.streamed = not isinstance(self.source, ArraySource)
        if self.source.in_channels != recipe.space.in_channels or self.source.n_classes != recipe.space.n_classes:
            raise CheckpointError(
                f"dataset {self.source.name} has {self.source.in_channels} channels / {self.source.n_classes} "
                f"classes but the recipe's space has {recipe.space.in_channels} / {recipe.space.n_classes}"
            )
        if recipe.batch_size % self.world:
            raise FormatError(f"the recipe's batch_size {recipe.batch_size} (images per step, all processes "
                              f"together) does not split over {self.world} processes; use a process count "
                              "that divides it")
        per_rank = recipe.batch_size // self.world
        if self.streamed:
            n_train = self.source.split_size("train")
            if n_train < recipe.batch_size:
                raise DatasetError(f"{self.source.name}: {n_train} training images, fewer than one step of the "
                                   f"recipe's batch_size {recipe.batch_size}; lower batch_size or give more images")
            self.stream: BatchStream | SourceStream = SourceStream(self.source, per_rank, recipe.space.resolutions,
                                                                   recipe.seed)
        else:
            splits = self.source.splits
            train_split = splits.train.subset(data.get("train_subset"), recipe.seed)
            n_train = len(train_split)
            self.stream = BatchStream(train_split, splits, per_rank, seed=recipe.seed + 1000 * self.rank,
                                      crop_fill=data.get("crop_fill", DEFAULT_CROP_FILL))
        self.bn = bn_settings(recipe, self.source)
        self.model = self.build_model().to(memory_format=torch.channels_last)
        sync_model(self.model, self.world, average_buffers=False)
        self.teacher: Supernet | None = None
        self.progress = progress or (lambda info: None)
        self.phase_idx, self.epoch_in_phase, self.optimizer = 0, 0, None
        self.steps_per_epoch = recipe.steps_per_epoch or max(1, n_train // recipe.batch_size)

    # -- what a subclass trains (`finetune.FineTuner`: one static subnet instead of the supernet) --
    def build_model(self) -> torch.nn.Module:
        """The network at the start of the run (a resumed run then loads its checkpoint into it)."""
        torch.manual_seed(self.recipe.seed)
        return new_supernet(self.recipe.space)

    def load_model_state(self, state: dict[str, torch.Tensor]) -> None:
        load_weights(self.model, state, str(self.state_path))

    def on_start(self, resumed: bool) -> None:
        """Called once the run folder is locked and any checkpoint loaded, before the first step."""

    def after_phase(self, phase: Phase) -> None:
        """The end of the first phase freezes the distillation teacher (the full network)."""
        if self.phase_idx == 0 and any(p.kd > 0 for p in self.recipe.phases):
            self.teacher = copy.deepcopy(self.model).eval()
            self.teacher.set_max()

    def finish(self) -> None:
        self.model.set_max()

    @property
    def splits(self) -> DataSource:
        """The dataset (kept under its old name for callers that print `trainer.splits.name`)."""
        return self.source

    # -- persistence --
    @property
    def state_path(self) -> Path:
        return self.out / "state.pt"

    def save_state(self) -> None:
        sync_model(self.model, self.world, average_buffers=True)
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "recipe": self.recipe.raw, "phase_idx": self.phase_idx, "epoch_in_phase": self.epoch_in_phase,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "teacher": self.teacher.state_dict() if self.teacher is not None else None,
            "stream": self.stream.state() if self.streamed else _stream_to_file(self.stream.state()),
            "world": self.world,
        }
        with atomic_path(self.state_path) as tmp:
            torch_save(state, tmp)

    def load_state(self) -> bool:
        if not self.state_path.exists():
            return False
        state = safe_torch_load(self.state_path, "training state", "delete it to start the run over")
        if not isinstance(state, dict) or not _STATE_KEYS <= set(state):
            raise CheckpointError(f"{self.state_path} is not an ofa-deploy training state; delete it to start over")
        if state["recipe"] != self.recipe.raw:
            raise CheckpointError(f"{self.state_path} was written by another recipe; use another --out "
                                  "or delete it to start over")
        self.load_model_state(state["model"])
        if state["teacher"] is not None:
            self.teacher = copy.deepcopy(self.model)
            self.teacher.load_state_dict(state["teacher"])
            self.teacher.eval()
        self.phase_idx, self.epoch_in_phase = state["phase_idx"], state["epoch_in_phase"]
        if state["optimizer"] is not None and self.phase_idx < len(self.recipe.phases):
            self.optimizer = make_optimizer(self.model, self.recipe, self.recipe.phases[self.phase_idx].lr)
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("world", 1) == self.world:
            self.stream.load_state(state["stream"] if self.streamed else _stream_from_file(state["stream"]))
        if self.rank == 0:  # the one writer of the log: new lines must not follow a half-written one
            complete_lines(self.out / "log.jsonl", repair=True)
        return True

    def log(self, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}
        with open(self.out / "log.jsonl", "a") as f:
            append_text(f, json.dumps(record) + "\n", self.out / "log.jsonl")

    # -- the loop --
    def train_step(self, phase: Phase, rng: np.random.Generator, lr: float) -> float:
        spec = self.recipe.space
        x, y = self._batch(rng)
        r = int(x.shape[-1])
        soft = None
        if phase.kd > 0 and self.teacher is not None:
            with torch.no_grad():
                soft = F.softmax(self.teacher(x), dim=1)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        archs = [sample_arch(phase, self.recipe, rng, r) for _ in range(phase.subnets_per_step)]
        if phase.include_largest:
            archs[0] = phase_arch(phase, spec, max, r)
        if phase.include_smallest:
            archs[-1] = phase_arch(phase, spec, min, r)
        total = 0.0
        self.model.train()
        for arch in archs:
            self.model.set_active(arch)
            loss = self.loss(self.model(x), y, soft, phase.kd)
            loss.backward()
            total += loss.item()
        return self.update(total / len(archs), phase, lr)

    def loss(self, out: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None, kd: float) -> torch.Tensor:
        """Cross-entropy with label smoothing, plus `kd` times the soft-target cross-entropy when a
        teacher gave `soft` (upstream's `cross_entropy_loss_with_soft_target`, `kd_ratio`)."""
        loss = F.cross_entropy(out, y, label_smoothing=self.recipe.label_smoothing)
        if soft is not None:
            loss = loss + kd * soft_cross_entropy(out, soft)
        return loss

    def update(self, loss: float, phase: Phase, lr: float) -> float:
        """The NaN/inf guard, the gradient all-reduce and the optimiser step of a step whose loss is `loss`."""
        # before the update, so that the weights in memory (and every checkpoint) stay the last good ones
        if self._any_rank(not math.isfinite(loss)):
            raise TrainingDiverged(f"the loss is {loss} in phase {phase.name!r} at lr {lr:g}")
        average_gradients(list(self.model.parameters()), self.world)
        self.optimizer.step()
        return loss

    def _batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One step's images. In memory the step's generator draws the resolution (as it always did);
        streamed, the loader has drawn it for the batch (upstream: the data loader sets the size)."""
        if self.streamed:
            return self.stream.next_batch()
        return self.stream.next_batch(int(rng.choice(self.recipe.space.resolutions)))

    def _any_rank(self, bad: bool) -> bool:
        """True on every rank when `bad` is true on one (all ranks must stop together, or the others
        would wait forever in the next all-reduce)."""
        if self.world == 1:
            return bad
        import torch.distributed as dist

        flag = torch.tensor([float(bad)], device=next(self.model.parameters()).device)
        dist.all_reduce(flag)
        return bool(flag.item() > 0)

    def _check_weights(self, phase: Phase) -> None:
        """A finite loss can still leave infinite weights after its step: never checkpoint those."""
        tensors = [t for t in (*self.model.parameters(), *self.model.buffers()) if t.is_floating_point()]
        if self._any_rank(not all(bool(torch.isfinite(t).all()) for t in tensors)):
            raise TrainingDiverged(f"the weights are no longer finite at the end of an epoch of phase {phase.name!r}")

    def _diverged(self, cause: TrainingDiverged, phase: Phase, epoch: int, step: int) -> TrainingDiverged:
        """The error the run stops with: where it diverged, and what is kept on disk."""
        where = f"epoch {epoch + 1}, step {step + 1}"
        self.log({"event": "diverged", "phase": phase.name, "epoch": epoch + 1, "step": step + 1,
                  "cause": str(cause)})
        if self.state_path.exists():
            done = (f"{self.epoch_in_phase} epoch(s) of phase {phase.name!r}" if self.epoch_in_phase
                    else f"the start of phase {phase.name!r}")
            kept = (f"the last good checkpoint {self.state_path} (after {done}) is kept: lower that phase's lr "
                    "and train again into a new --out, or --resume it")
        else:
            kept = "nothing was checkpointed (it diverged in the first epoch): lower that phase's lr and train again"
        return TrainingDiverged(f"training diverged: {cause} ({where}); {kept}")

    def evaluate_phase(self, phase: Phase) -> dict[str, float]:
        limit, bn = self.recipe.eval_images, self.bn
        return {name: evaluate_arch(self.model, arch, self.source, "test", bn["images"], limit,
                                    bn_batch=bn["batch"], bn_transform=bn["transform"])
                for name, arch in phase_archs(phase, self.recipe).items()}

    def run(self, resume: bool = False, stop_after_epochs: int | None = None) -> dict[str, Any]:
        try:
            return self._run(resume, stop_after_epochs)
        finally:
            if self.streamed:
                self.stream.close()

    def _run(self, resume: bool, stop_after_epochs: int | None) -> dict[str, Any]:
        if self.rank == 0:  # one run per folder: held while this trainer lives (rank 0 writes for all ranks)
            self._lock = writer_lock(self.out, "training run")
        resumed = False
        if resume and self.load_state():
            resumed = True
            self.log({"event": "resume", "phase": self.phase_idx, "epoch_in_phase": self.epoch_in_phase})
        elif self.state_path.exists() and not resume:
            raise CheckpointError(f"{self.state_path} exists: pass --resume to continue it, or choose another --out")
        self.on_start(resumed)
        epochs_done_now = 0
        started = time.time()
        while self.phase_idx < len(self.recipe.phases):
            phase = self.recipe.phases[self.phase_idx]
            n_epochs = max(1, math.ceil(phase.epochs))
            total_steps = round(phase.epochs * self.steps_per_epoch)
            if self.epoch_in_phase == 0 and self.optimizer is None:
                if phase.sort_channels is not None:
                    self.model.sort_channels(int(phase.sort_channels))
                self.optimizer = make_optimizer(self.model, self.recipe, phase.lr)
                self.log({"event": "phase_start", "phase": phase.name, "steps": total_steps})
            while self.epoch_in_phase < n_epochs:
                e = self.epoch_in_phase
                first, last = e * self.steps_per_epoch, min((e + 1) * self.steps_per_epoch, total_steps)
                losses = []
                t0 = time.time()
                for step in range(first, last):
                    rng = np.random.default_rng([self.recipe.seed, self.phase_idx, step])
                    try:
                        losses.append(self.train_step(phase, rng, lr_at(phase, step, total_steps)))
                    except TrainingDiverged as cause:
                        raise self._diverged(cause, phase, e, step - first) from None
                    self.progress({"phase": phase.name, "phase_idx": self.phase_idx, "epoch": e, "epochs": n_epochs,
                                   "step": step - first + 1, "steps": last - first, "loss": losses[-1]})
                try:
                    self._check_weights(phase)
                except TrainingDiverged as cause:
                    raise self._diverged(cause, phase, e, last - first - 1) from None
                self.epoch_in_phase += 1
                self.save_state()
                self.log({"event": "epoch", "phase": phase.name, "epoch": e + 1, "of": n_epochs,
                          "loss": float(np.mean(losses)) if losses else None, "seconds": round(time.time() - t0, 1),
                          **self._skipped()})
                epochs_done_now += 1
                if stop_after_epochs is not None and epochs_done_now >= stop_after_epochs:
                    return {"stopped": True, "phase": phase.name, "epoch_in_phase": self.epoch_in_phase}
            accs = self.evaluate_phase(phase) if self.rank == 0 else {}
            self.log({"event": "phase_end", "phase": phase.name, "phase_idx": self.phase_idx, "test_top1": accs,
                      "bn": self.bn, **self._skipped()})
            self.after_phase(phase)
            self.phase_idx += 1
            self.epoch_in_phase = 0
            self.optimizer = None
            self.save_state()
        self.finish()
        return {"stopped": False, "seconds": round(time.time() - started, 1)}

    def _skipped(self) -> dict[str, Any]:
        """`skipped_images` for a log record: unreadable images this process read past so far
        (`skip_bad_images`); nothing when there were none."""
        sk = skipped_images(self.source)
        return {"skipped_images": sk} if sk else {}

    def export(self, path: Path, meta: dict[str, Any] | None = None) -> Path:
        info = {"recipe": self.recipe.name, "recipe_source": self.recipe.source, **(meta or {})}
        return save_any_supernet(self.model, path, meta=info)


def check_run_folder(out: Path) -> None:
    """`OutputError` when `out` holds another kind of output (a latency table, a dataset...): a
    training run would write its state and log into it. New, empty, unknown or run folders pass."""
    found = identify(out)
    if found is not None and not out.is_dir():
        raise OutputError(f"{out} is {describe(found)}, not a folder; give a folder for the training run (--out)")
    if found not in (None, "run", "empty", "folder"):
        raise OutputError(f"{out} is {describe(found)}, not a training run folder; refusing to train into it: "
                          "give another --out")


def bn_settings(recipe: Recipe, source: DataSource) -> dict[str, Any]:
    """How the phase reports recalibrate BN: the recipe's `bn_images`, `bn_batch`, `bn_transform`, each
    defaulting to the source's own (a folder: upstream's 2000 seeded training images, train transform;
    in memory: the first held-out images, eval transform). Logged with every phase's result."""
    transform = recipe.bn_transform or source.bn_transform
    # which images: in memory, the eval transform reads the held-out split (`ArraySource.bn_batches`)
    split = "val" if isinstance(source, ArraySource) and transform == "eval" else "train"
    return {"images": recipe.bn_images, "batch": recipe.bn_batch or source.bn_batch, "transform": transform,
            "split": split}


# ---- the state file and the log, as files --------------------------------------------------
_STATE_KEYS = {"recipe", "phase_idx", "epoch_in_phase", "model", "optimizer", "teacher", "stream"}


def _stream_to_file(state: dict[str, Any]) -> dict[str, Any]:
    """The batch stream's state in what `torch.load(weights_only=True)` reads back: the shuffled
    order as a tensor (numpy's RNG state is a dict of ints already, torch's a uint8 tensor)."""
    return {**state, "order": torch.from_numpy(np.asarray(state["order"]))}


def _stream_from_file(state: dict[str, Any]) -> dict[str, Any]:
    order = state["order"]
    return {**state, "order": order.numpy() if isinstance(order, torch.Tensor) else np.asarray(order)}


def read_log(log_path: Path) -> list[dict[str, Any]]:
    """The records of a training log. A half-written last line (the run was killed while writing
    it) is left out, as every append-only file here is read; a damaged complete line is an error."""
    data, _ = complete_lines(Path(log_path))
    records = []
    for n, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = None
        if not isinstance(rec, dict):
            raise FormatError(f"{log_path}, line {n}: not a log record (damaged file); delete the line or the "
                              "run folder")
        records.append(rec)
    return records


def phase_table(log_path: Path) -> list[dict[str, Any]]:
    """Per-phase results from a training log (for reports), one row per phase.

    Replaying the log is idempotent: a run killed after logging a phase's end but before saving the
    state that moves past it evaluates and logs that phase again when resumed; the last record of
    a phase (its index, or its name in logs written before the index was recorded) is the one kept,
    in the place of the first."""
    rows: dict[Any, dict[str, Any]] = {}
    for rec in read_log(log_path):
        if rec.get("event") == "phase_end":
            rows[rec.get("phase_idx", rec["phase"])] = {"phase": rec["phase"], **rec["test_top1"]}
    return list(rows.values())


__all__ = ["Trainer", "asdict", "phase_table", "read_log"]
