"""Fine-tuning a searched subnet (the official `..._finetune@25` / `@75` subnets): extract it from its
supernet and train it a few more epochs, distilling from the supernet's largest subnet.

Not a second trainer: `FineTuner` is the progressive-shrinking `Trainer` with one phase and one
network. It keeps everything of `train`: the recipe's data (in memory or a streamed ImageNet-style
folder at the subnet's own resolution), checkpoints after every epoch and bit-identical `--resume`,
torchrun data parallelism (the recipe's batch split over the processes, one all-reduce per step),
the NaN/inf guard, one writer per run folder, `log.jsonl`. What differs is the network (the static
subnet, started from the extracted weights with BN recalibrated as every evaluation does, or from
random weights for `--from-scratch`), the teacher (the largest subnet of the supernet at the
subnet's resolution, BN recalibrated alike, in eval mode; `--teacher` names another checkpoint),
and the output: a static-subnet checkpoint (`nn.finetuned`) that `export` takes with its trained BN.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CheckpointError
from ..fsio import sha256_file
from ..nn.checkpoint import load_supernet
from ..nn.finetuned import FineTunedSubnet, load_weights_source, save_finetuned, subnet_module
from ..nn.strict import strict_load
from ..space import Subnet, largest_arch
from ..space.genes import gene_space
from .evaluate import _nchw, _top1, calibrated_subnet
from .finetune_recipe import FinetuneRecipe
from .progressive import ProgressFn, Trainer
from .recipe import Phase, Recipe


@dataclass
class FinetuneJob:
    """What to fine-tune: the subnet (from its file), the supernet it is cut from, and how."""

    subnet: Subnet
    subnet_path: Path
    supernet_path: Path
    recipe: FinetuneRecipe
    epochs: int | None = None  # default: the recipe's
    kd_ratio: float | None = None  # default: the recipe's
    teacher_path: Path | None = None  # default: the supernet's largest subnet
    from_scratch: bool = False

    @property
    def n_epochs(self) -> int:
        return self.epochs if self.epochs is not None else self.recipe.epochs

    @property
    def kd(self) -> float:
        if self.from_scratch:
            return 0.0
        return self.kd_ratio if self.kd_ratio is not None else self.recipe.kd_ratio


def job_recipe(job: FinetuneJob) -> Recipe:
    """The one-phase training recipe of a job. `raw` names everything a resumed run must share with the
    run it continues (recipe, epochs, subnet, the supernet's and teacher's sha256), so that a `--resume`
    with other inputs is refused."""
    fr, arch = job.recipe, job.subnet.arch
    spec = replace(job.subnet.spec, resolutions=(arch.r,))  # the subnet trains at its own resolution
    largest = {dim: [max(values)] for dim, values in gene_space(spec).phase_dims().items()}
    lr, warmup = fr.lr, fr.warmup_steps
    if job.from_scratch:
        lr = fr.scratch_lr if fr.scratch_lr is not None else fr.lr
        warmup = fr.scratch_warmup_steps if fr.scratch_warmup_steps is not None else fr.warmup_steps
    phase = Phase(name="scratch" if job.from_scratch else "finetune", epochs=float(job.n_epochs), lr=lr,
                  ks=largest.get("ks", []), expand=largest["expand"], depth=largest["depth"],
                  width=largest.get("width", []), kd=job.kd, warmup_steps=warmup)
    raw = {**fr.raw, "epochs": job.n_epochs, "kd_ratio": job.kd, "from_scratch": job.from_scratch,
           "subnet": {"space": job.subnet.spec.to_dict(), "arch": arch.to_dict()},
           "supernet_sha256": None if job.from_scratch else sha256_file(job.supernet_path),
           "teacher_sha256": sha256_file(job.teacher_path) if job.teacher_path and job.kd > 0 else None}
    return Recipe(name=fr.name + ("-scratch" if job.from_scratch else ""), space=spec, data=dict(fr.data),
                  batch_size=fr.batch_size, momentum=fr.momentum, nesterov=fr.nesterov,
                  weight_decay=fr.weight_decay, label_smoothing=fr.label_smoothing, phases=[phase],
                  bn_images=fr.bn_images, bn_batch=fr.bn_batch, bn_transform=fr.bn_transform,
                  eval_images=fr.eval_images, steps_per_epoch=fr.steps_per_epoch, seed=fr.seed, source=fr.source,
                  raw=raw)


class FineTuner(Trainer):
    """`Trainer` on one static subnet: one phase, the subnet's resolution, KD from a fixed teacher."""

    def __init__(self, job: FinetuneJob, out: Path, progress: ProgressFn | None = None, threads: int | None = None,
                 data_root: str | os.PathLike | None = None, workers: int | None = None):
        self.job = job
        recipe = job_recipe(job)
        if data_root is not None:
            recipe.data["root"] = str(data_root)
        if workers is not None:  # how images are read, not what is trained: not part of the recipe's identity
            recipe.data["workers"] = workers
        # loaded for a from-scratch run too: its dataset (checkpoint meta) is the one export verifies on
        self.supernet = load_supernet(job.supernet_path)
        if not self.supernet.spec.same_space(job.subnet.spec):
            raise CheckpointError(f"the subnet {job.subnet_path} belongs to {job.subnet.spec.describe()}, but the "
                                  f"supernet {job.supernet_path} is {self.supernet.spec.describe()}; give the "
                                  "supernet it was searched for (--supernet)")
        super().__init__(recipe, out, progress=progress, threads=threads)
        self.kd_teacher = self._teacher() if job.kd > 0 else None

    @property
    def arch(self) -> Any:
        return self.job.subnet.arch

    # -- the network and its teacher --
    def build_model(self) -> torch.nn.Module:
        if self.job.from_scratch:
            torch.manual_seed(self.recipe.seed)
            return subnet_module(self.job.subnet.spec, self.arch).train()
        return self._calibrated(self.supernet, self.arch).train()

    def _calibrated(self, supernet: Any, arch: Any) -> torch.nn.Module:
        bn = self.bn
        return calibrated_subnet(supernet, arch, self.source, bn["images"], bn["batch"], bn["transform"])

    def _teacher(self) -> torch.nn.Module:
        """The largest subnet of the supernet (or of `--teacher`) at the subnet's resolution, BN
        recalibrated as the student's; a fine-tuned checkpoint given as `--teacher` is taken as it is."""
        path = self.job.teacher_path
        source = load_weights_source(path) if path is not None else self.supernet
        if isinstance(source, FineTunedSubnet):
            teacher = source.module
        else:
            teacher = self._calibrated(source, largest_arch(source.spec, self.arch.r))
        if (source.spec.n_classes, source.spec.in_channels) != (self.job.subnet.spec.n_classes,
                                                                self.job.subnet.spec.in_channels):
            raise CheckpointError(f"the teacher {path or self.job.supernet_path} has {source.spec.n_classes} "
                                  f"classes / {source.spec.in_channels} channels, the subnet "
                                  f"{self.job.subnet.spec.n_classes} / {self.job.subnet.spec.in_channels}")
        return teacher.to(memory_format=torch.channels_last).eval()

    def load_model_state(self, state: dict[str, torch.Tensor]) -> None:
        strict_load(self.model, state, str(self.state_path), f"subnet {self.arch.short()}")

    # -- the loop's hooks --
    def train_step(self, phase: Phase, rng: np.random.Generator, lr: float) -> float:
        x, y = self._batch(rng)
        soft = None
        if self.kd_teacher is not None and phase.kd > 0:
            with torch.no_grad():
                soft = F.softmax(self.kd_teacher(x), dim=1)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        self.model.train()
        loss = self.loss(self.model(x), y, soft, phase.kd)
        loss.backward()
        return self.update(loss.item(), phase, lr)

    def subnet_top1(self, module: torch.nn.Module | None = None) -> float:
        """Test top-1 (%) of the subnet as it is (its own BN statistics), NCHW as export computes."""
        sub = copy.deepcopy(module if module is not None else self.model).to(memory_format=torch.contiguous_format)
        batches = self.source.eval_batches("test", self.arch.r, limit=self.recipe.eval_images)
        with torch.no_grad():
            return _top1(sub.eval(), ((_nchw(x), y) for x, y in batches))

    def evaluate_phase(self, phase: Phase) -> dict[str, float]:
        return {"subnet": self.subnet_top1()}

    def on_start(self, resumed: bool) -> None:
        """A fresh run records the extracted subnet's accuracy (BN recalibrated) before any step."""
        if resumed or self.rank != 0 or self.job.from_scratch:
            return
        self.log({"event": "before", "test_top1": {"subnet": self.subnet_top1()}, "bn": self.bn})

    def after_phase(self, phase: Phase) -> None:
        """The teacher is fixed from the start: nothing to freeze."""

    def finish(self) -> None:
        self.model.eval()

    def export(self, path: Path, meta: dict[str, Any] | None = None) -> Path:
        """The static-subnet checkpoint (space and arch embedded; trained BN)."""
        supernet_meta = getattr(self.supernet, "checkpoint_meta", {})
        info = {"recipe": supernet_meta.get("recipe"),  # the supernet's dataset: what export verifies on
                "finetune": {"recipe": self.job.recipe.name, "recipe_source": self.job.recipe.source,
                             "epochs": self.job.n_epochs, "kd_ratio": self.job.kd,
                             "from_scratch": self.job.from_scratch,
                             "teacher": str(self.job.teacher_path or self.job.supernet_path) if self.job.kd else None,
                             "subnet": str(self.job.subnet_path.resolve()),
                             "supernet": str(Path(self.job.supernet_path).resolve()), **(meta or {})}}
        module = copy.deepcopy(self.model).to(memory_format=torch.contiguous_format).eval()
        return save_finetuned(module, self.job.subnet.spec, self.arch, path, info)


def official_name(subnet_meta: dict[str, Any], top1: float, epochs: int, device: str | None = None) -> str:
    """The official way of naming a specialised subnet: `<device>_lat@<budget>ms_top1@<acc>_finetune@<N>`
    (`note8_lat@22ms_top1@70.4_finetune@25`); a FLOPs budget gives `flops@<M>M_top1@...` as upstream's
    `flops@595M_top1@80.0_finetune@75`."""
    table = subnet_meta.get("latency_table") if isinstance(subnet_meta.get("latency_table"), dict) else {}
    device = device or table.get("device")
    search = subnet_meta.get("search") if isinstance(subnet_meta.get("search"), dict) else {}
    budget = search.get("budget") if isinstance(search.get("budget"), dict) else {}
    if budget.get("latency_ms") is not None:
        head = f"{device or 'device'}_lat@{float(budget['latency_ms']):g}ms"
    elif budget.get("flops") is not None:
        head = f"flops@{float(budget['flops']) / 1e6:.0f}M"
    else:
        head = device or "subnet"
    return f"{head}_top1@{top1:.1f}_finetune@{epochs}"


__all__ = ["FineTuner", "FinetuneJob", "job_recipe", "official_name"]


# ---- the command as library calls: what `ofa-deploy finetune` resolves and writes ----------------------
def plan_job(subnet: str | os.PathLike | None, supernet: str | os.PathLike | None, recipe: str | None,
             epochs: int | None = None, kd_ratio: float | None = None, teacher: str | os.PathLike | None = None,
             from_scratch: bool = False) -> tuple[FinetuneJob, str | None, list[str]]:
    """(job, device the subnet was searched for, notes on the defaults taken). The subnet and supernet
    default as `export`'s (`flow.export_sources`: the last search's subnet, the supernet it was searched
    for), never a fine-tuned checkpoint; the recipe defaults by the supernet's classes."""
    from .. import checks
    from ..flow import export_sources
    from ..space import load_subnet
    from ..space.checkpoint import checkpoint_space
    from .finetune_recipe import default_recipe, load_finetune_recipe

    checks.count(epochs, "--epochs", 100000, optional=True)
    if kd_ratio is not None:
        checks.number(kd_ratio, "--kd-ratio", 0)
    sources = export_sources(subnet, supernet, finetuned=False)
    space = checkpoint_space(sources.supernet, command="finetune")  # a fine-tuned subnet: refused
    sub = load_subnet(sources.subnet, spec=space)
    if teacher is not None and not Path(teacher).is_file():
        raise CheckpointError(f"--teacher {teacher}: no such checkpoint file")
    notes = list(sources.notes)
    if recipe is None:
        recipe = default_recipe(space.n_classes)
        notes.append(f"recipe {recipe}: the default for a supernet of {space.n_classes} classes")
    job = FinetuneJob(sub, sources.subnet, sources.supernet, load_finetune_recipe(recipe), epochs, kd_ratio,
                      Path(teacher) if teacher is not None else None, from_scratch)
    return job, sources.device, notes


def default_out(job: FinetuneJob) -> Path:
    return Path("runs") / f"finetune-{job.subnet_path.stem}{'-scratch' if job.from_scratch else ''}"


def complete(tuner: FineTuner, out: Path, device: str | None, scratch_dirs: list[Path] | None = None
             ) -> dict[str, Any]:
    """After a finished run: the checkpoint (`subnet.pt`), the report, and (a fine-tuning, not a
    from-scratch baseline) the `finetune` record that makes `export` take the checkpoint."""
    from .. import records
    from .finetune_report import run_results, write_finetune_report

    job = tuner.job
    res = run_results(out)
    name = official_name(job.subnet.meta, res["after"], job.n_epochs, device)
    path = tuner.export(out / "subnet.pt", {"name": name, "top1_before": res["before"], "top1": res["after"]})
    info = {"name": name, "checkpoint": str(path), "recipe": job.recipe.name, "subnet": str(job.subnet_path),
            "arch": job.subnet.arch.short(), "resolution": job.subnet.arch.r, "supernet": str(job.supernet_path),
            "kd_ratio": job.kd, "teacher": str(job.teacher_path or job.supernet_path) if job.kd else None,
            "from_scratch": job.from_scratch, "processes": tuner.world,
            "threads_per_process": tuner.threads, "device": device}
    report = write_finetune_report(out, info, scratch_dirs)
    if not job.from_scratch:
        records.remember_finetune(path, subnet=job.subnet_path, supernet=job.supernet_path, device=device,
                                  name=name, epochs=job.n_epochs, top1=res["after"])
    return {**info, "report": str(report), "top1_before": res["before"], "top1": res["after"],
            "seconds_per_epoch": res["seconds_per_epoch"]}


__all__ += ["complete", "default_out", "plan_job"]
