"""`ofa-deploy train`: progressive-shrinking training of a supernet from a recipe."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options as opt
from .choices import ScratchSubnet
from .common import console, epoch_progress, err_console, fail, json_text, merge_alias, print_json, value
from .options import Opt


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    recipe: str | None = Opt(None, "--recipe", help="Recipe name (demo-fmnist, imagenet, tiny-synthetic) or a YAML "
                             "file. [default: demo-fmnist]"),
    recipe_old: str | None = Opt(None, "-r", hidden=True, help="Old short name of --recipe (kept for one release; -r "
                                 "is --resolution(s) elsewhere)."),
    out: Path = opt.out("Run folder: state.pt (resume point), log.jsonl, supernet.pt, report.md.",
                        default=Path("runs/demo-fmnist")),
    resume: opt.Resume = False,
    data: Path | None = Opt(None, "--data", help="Dataset folder (Fashion-MNIST idx files, or an ImageNet-style "
                            "folder for the imagenet recipe)."),
    threads: opt.TorchThreads = None,
    workers: int | None = Opt(None, "--workers", help="Image-reading processes per training process for an "
                              "ImageNet-style folder (default: the recipe's data.workers, else up to 4)."),
    scratch: ScratchSubnet | None = Opt(None, "--from-scratch", help="Baseline: train only the largest, middle or "
                                        "smallest subnet of the recipe's space, with its first phase's budget (no KD)."),
    compare_scratch: list[Path] = Opt([], "--compare-scratch", help="Finished --from-scratch run folder(s) to set "
                                      "beside the OFA-extracted subnets in the report (repeatable)."),
    stop_after_epochs: opt.StopAfterEpochs = None,
    as_json: bool = opt.json("Print the final result as JSON (progress goes to stderr)."),
) -> None:
    """Train a supernet with progressive shrinking; checkpoints every epoch, resumable."""
    from contextlib import nullcontext

    from ..train.session import TrainingRun, training_recipe

    recipe = merge_alias(recipe, recipe_old, "--recipe", "-r", default="demo-fmnist")
    rec = training_recipe(recipe, data, workers, value(scratch), compare_scratch, stop_after_epochs)
    out_console = err_console if as_json else console
    progress, on_step = epoch_progress(out_console, lambda info: (info["phase_idx"], info["epoch"]))
    run = TrainingRun(rec, out, on_step, threads)
    t = run.trainer
    if run.speaks:
        out_console.print(f"training [bold]{rec.name}[/] ({rec.space.describe()}) on {t.source.name}: "
                          f"{t.steps_per_epoch} steps/epoch of {rec.batch_size} images, "
                          f"{t.world} process(es); run folder {out}")
    try:
        with progress if run.speaks else nullcontext():
            result = run.run(resume, stop_after_epochs)
    except KeyboardInterrupt:
        fail(f"interrupted: {out} keeps the run up to its last finished epoch (state.pt, log.jsonl); rerun the same "
             "command with --resume to continue it", code=130)
    if not run.speaks:
        return
    if result["stopped"]:
        _print_stopped(result, out, as_json)
        return
    done = run.finish(compare_scratch)
    if as_json:
        print_json(done)
        return
    console.print(f"supernet written to {done['supernet']}; report {done['report']}")
    console.print_json(json_text({"final": done["final"]}))


def _print_stopped(result: dict, out: Path, as_json: bool) -> None:
    if as_json:
        print_json({"stopped": True, "phase": result["phase"], "epoch_in_phase": result["epoch_in_phase"],
                    "out": str(out)})
    else:
        console.print(f"stopped after epoch {result['epoch_in_phase']} of phase {result['phase']}; "
                      f"continue with --resume")
