"""`ofa-deploy train` as one object: the recipe from the command's options (every option checked
before the training starts, `--compare-scratch` folders included), the trainer, the rank policy
(rank 0 reports and writes; the other ranks train silently), then the supernet and the report."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import checks


def training_recipe(recipe: str, data: Path | None = None, workers: int | None = None,
                    scratch: str | None = None, compare_scratch: Sequence[Path] = (),
                    stop_after_epochs: int | None = None) -> Any:
    """The recipe to train, once every option is checked (a wrong --compare-scratch folder fails
    now, not after the training); joins the process group under torchrun."""
    from .progressive import init_distributed
    from .recipe import from_scratch, load_recipe
    from .report import scratch_results

    checks.integer(stop_after_epochs, "--stop-after-epochs", 1, optional=True)
    for d in compare_scratch:
        scratch_results(d)
    init_distributed()
    rec = load_recipe(recipe)
    if scratch is not None:
        rec = from_scratch(rec, scratch)
    if data is not None:
        rec.data["root"] = str(data)
    if workers is not None:  # how the images are read, not what is trained: a resumed run may change it
        rec.data["workers"] = checks.count(workers, "--workers", 64, lo=0)
    return rec


class _RankedRun:
    """What `train` and `finetune` share: `engine` (the Trainer or FineTuner) runs on every rank;
    `speaks` (rank 0) is the one process that reports progress, prints and writes; `complete` runs,
    then `finish`es on rank 0."""

    engine: Any

    def _quiet_other_ranks(self) -> None:
        if not self.speaks:
            self.engine.progress = lambda info: None

    @property
    def speaks(self) -> bool:
        return self.engine.rank == 0

    def run(self, resume: bool = False, stop_after_epochs: int | None = None) -> dict[str, Any]:
        return self.engine.run(resume=resume, stop_after_epochs=stop_after_epochs)

    def finish(self) -> dict[str, Any]:
        raise NotImplementedError

    def complete(self, resume: bool = False, stop_after_epochs: int | None = None) -> dict[str, Any] | None:
        """`run`, then `finish` on rank 0: None on the other ranks; a run stopped by
        `stop_after_epochs` returns the engine's result (`stopped` True) and writes nothing."""
        result = self.run(resume, stop_after_epochs)
        if not self.speaks or result["stopped"]:
            return result if self.speaks else None
        return {"stopped": False, **self.finish()}


class TrainingRun(_RankedRun):
    """The trainer of `recipe` in `out`; `speaks` (rank 0) is the one process that reports progress,
    prints and writes the supernet and the report."""

    def __init__(self, recipe: Any, out: Path, on_step: Callable[[dict], None] | None = None,
                 threads: int | None = None, compare_scratch: Sequence[Path] = ()):
        from .progressive import Trainer

        self.recipe, self.out, self.compare_scratch = recipe, out, list(compare_scratch)
        self.trainer = self.engine = Trainer(recipe, out, progress=on_step, threads=threads)
        self._quiet_other_ranks()

    def interrupted(self) -> str:
        """What an interruption (Ctrl-C) kept, and how to resume, as one line."""
        return (f"interrupted: {self.out} keeps the run up to its last finished epoch (state.pt, log.jsonl); rerun "
                "the same command with --resume to continue it")

    def finish(self) -> dict[str, Any]:
        """Export the supernet and write the report (rank 0): their paths and the final metrics."""
        from .report import write_report

        path = self.trainer.export(self.out / "supernet.pt")
        report = write_report(self.out, self.recipe, list(self.compare_scratch))
        final = json.loads((self.out / "report.json").read_text())["final"]
        return {"supernet": str(path), "report": str(report), "final": final}


class FineTuneRun(_RankedRun):
    """`ofa-deploy finetune` as one object, as `TrainingRun` is `train`: the options checked and the job
    planned before the training starts (`train.finetune.plan_job`; a wrong --compare-scratch folder
    fails now, not after the training), the process group joined under torchrun, the `FineTuner` in
    `out` (default: `runs/finetune-<subnet>`), the same rank policy (`speaks`: rank 0 reports and
    writes), then `finish` (checkpoint, report, the record `export` reads)."""

    def __init__(self, subnet: Path | None, supernet: Path | None, recipe: str | None, *, epochs: int | None = None,
                 kd_ratio: float | None = None, teacher: Path | None = None, from_scratch: bool = False,
                 compare_scratch: Sequence[Path] = (), out: Path | None = None, threads: int | None = None,
                 data: Path | None = None, workers: int | None = None, stop_after_epochs: int | None = None,
                 on_step: Callable[[dict], None] | None = None):
        from .finetune import FineTuner, default_out, plan_job
        from .finetune_report import scratch_runs
        from .progressive import init_distributed

        checks.integer(stop_after_epochs, "--stop-after-epochs", 1, optional=True)
        workers = checks.count(workers, "--workers", 64, lo=0, optional=True)
        init_distributed()
        self.job, self.device, self.notes = plan_job(subnet, supernet, recipe, epochs, kd_ratio, teacher,
                                                     from_scratch)
        scratch_runs(compare_scratch)
        self.compare_scratch = list(compare_scratch)
        self.out = out or default_out(self.job)
        self.tuner = self.engine = FineTuner(self.job, self.out, progress=on_step, threads=threads, data_root=data,
                                             workers=workers)
        self._quiet_other_ranks()

    def finish(self) -> dict[str, Any]:
        """The checkpoint, the report and (a fine-tuning) the `finetune` record (`train.finetune.complete`)."""
        from .finetune import complete

        return complete(self.tuner, self.out, self.device, self.compare_scratch)
