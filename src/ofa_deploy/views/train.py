"""What `ofa-deploy train` and `ofa-deploy finetune` print: the run's first line, a stop for
`--resume`, the result (the progress bars: `views.progress.epoch_progress`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from .console import console, json_text, next_step, notes, print_json


def training(rec: Any, trainer: Any, out_dir: Path, out: Console) -> None:
    """`train`: the recipe, space, data and processes of a `train.session.TrainingRun`'s trainer."""
    out.print(f"training [bold]{rec.name}[/] ({rec.space.describe()}) on {trainer.source.name}: "
              f"{trainer.steps_per_epoch} steps/epoch of {rec.batch_size} images, "
              f"{trainer.world} process(es); run folder {out_dir}")


def _stopped(result: dict, out_dir: Path, as_json: bool, phases: bool, out: Console) -> None:
    """A run stopped by --stop-after-epochs (`phases`: progressive shrinking's phases are named)."""
    epoch = result["epoch_in_phase"]
    if as_json:
        print_json({"stopped": True, **({"phase": result["phase"], "epoch_in_phase": epoch} if phases
                                        else {"epoch": epoch}), "out": str(out_dir)})
    else:
        phase = f" of phase {result['phase']}" if phases else ""
        out.print(f"stopped after epoch {epoch}{phase}; continue with --resume")


def trained(done: dict | None, out_dir: Path, as_json: bool, out: Console = console) -> None:
    """`train.session.TrainingRun.complete()`'s result: the supernet and report written, the final
    metrics; a stopped run's epoch (None, on the ranks other than 0: nothing)."""
    if done is None:
        return
    if done["stopped"]:
        _stopped(done, out_dir, as_json, True, out)
    elif as_json:
        print_json(done)
    else:
        out.print(f"supernet written to {done['supernet']}; report {done['report']}")
        out.print_json(json_text({"final": done["final"]}))


def finetuning(job: Any, tuner: Any, from_scratch: bool, out_dir: Path, said: list[str], out: Console) -> None:
    """`finetune`: the notes of `train.finetune.plan_job`, then what is trained, on what, and where."""
    notes(said)
    what = "training from scratch" if from_scratch else f"fine-tuning (KD ratio {job.kd:g})"
    out.print(f"{what} [bold]{job.subnet.arch.short()}[/] at {job.subnet.arch.r} px on "
              f"{tuner.source.name}: {job.n_epochs} epochs of {tuner.steps_per_epoch} steps of "
              f"{tuner.recipe.batch_size} images, {tuner.world} process(es) x "
              f"{tuner.threads} thread(s); run folder {out_dir}")


def finetuned(done: dict | None, out_dir: Path, from_scratch: bool, as_json: bool, out: Console = console) -> None:
    """`train.session.FineTuneRun.complete()`'s result: top-1 before and after, the checkpoint and
    report, the next step; a stopped run's epoch (None, on the ranks other than 0: nothing)."""
    from ..flow import next_after_finetune

    if done is None:
        return
    if done["stopped"]:
        _stopped(done, out_dir, as_json, False, out)
        return
    if as_json:
        print_json(done)
        return
    before = f"{done['top1_before']:.2f} % extracted -> " if done["top1_before"] is not None else ""
    out.print(f"{done['name']}: test top-1 {before}{done['top1']:.2f} %; checkpoint {done['checkpoint']}; "
              f"report {done['report']}", highlight=False)
    if not from_scratch:
        out.print("[dim]remembered as the weights `ofa-deploy export` uses for this subnet[/]")
        next_step(next_after_finetune(), out)
