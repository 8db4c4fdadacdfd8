"""`ofa-deploy train`: progressive-shrinking training of a supernet from a recipe."""

from __future__ import annotations

from pathlib import Path

from ..views import train as view
from ..views.console import human
from ..views.progress import epoch_progress, shown_if
from . import options as opt
from .choices import ScratchSubnet
from .common import fail, merge_alias, value
from .options import Opt


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
    from ..train.session import TrainingRun, training_recipe

    recipe = merge_alias(recipe, recipe_old, "--recipe", "-r", default="demo-fmnist")
    rec = training_recipe(recipe, data, workers, value(scratch), compare_scratch, stop_after_epochs)
    progress, on_step = epoch_progress(human(as_json), lambda info: (info["phase_idx"], info["epoch"]))
    run = TrainingRun(rec, out, on_step, threads, compare_scratch)
    if run.speaks:
        view.training(rec, run.trainer, out, human(as_json))
    try:
        with shown_if(progress, run.speaks):
            done = run.complete(resume, stop_after_epochs)
    except KeyboardInterrupt:
        fail(run.interrupted(), code=130)
    view.trained(done, out, as_json)
