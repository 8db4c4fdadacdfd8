"""`ofa-deploy finetune`: train the searched subnet a few more epochs with distillation (`train.finetune`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..views import train as view
from ..views.console import human
from ..views.progress import epoch_progress, shown_if
from . import options as opt


def finetune(
    subnet: opt.SubnetIn = None,
    supernet: Path | None = opt.supernet("Supernet the subnet is cut from and distilled from; default: the one "
                                            "the subnet was searched for, else the shipped demo supernet."),
    recipe: str | None = typer.Option(None, "--recipe", help="Fine-tuning recipe (finetune-demo, finetune-imagenet, "
                                      "finetune-imagenet-75) or a YAML file. [default: finetune-imagenet for a "
                                      "1000-class supernet, else finetune-demo]"),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (default: the recipe's)."),
    kd_ratio: float | None = typer.Option(None, "--kd-ratio", help="Weight of the distillation loss (default: the "
                                                                   "recipe's, 1.0; 0 trains without teacher)."),
    teacher: Path | None = typer.Option(None, "--teacher", help="Teacher checkpoint: a supernet (its largest "
                                        "subnet) or a fine-tuned subnet; default: the supernet's largest subnet."),
    from_scratch: bool = typer.Option(False, "--from-scratch", help="Baseline: the same subnet from random weights, "
                                                                    "same epochs, no teacher."),
    compare_scratch: list[Path] = typer.Option([], "--compare-scratch", help="Finished --from-scratch run "
                                               "folder(s) to set beside this run in the report (repeatable)."),
    out: Path | None = opt.out("Run folder: state.pt (resume point), log.jsonl, subnet.pt, report.md; default: "
                                  "runs/finetune-<subnet file name>[-scratch]."),
    resume: opt.Resume = False,
    data: Path | None = typer.Option(None, "--data", help="Dataset folder (Fashion-MNIST idx files, or an "
                                                          "ImageNet-style folder for finetune-imagenet)."),
    threads: opt.TorchThreads = None,
    workers: int | None = typer.Option(None, "--workers", help="Image-reading processes per training process for "
                                                              "an ImageNet-style folder."),
    stop_after_epochs: opt.StopAfterEpochs = None,
    as_json: bool = opt.json("Print the result as JSON (progress goes to stderr)."),
) -> None:
    """Fine-tune the searched subnet with KD from its supernet; checkpoints every epoch, resumable, torchrun-ready."""
    from ..train.session import FineTuneRun

    progress, on_step = epoch_progress(human(as_json), lambda info: info["epoch"])
    run = FineTuneRun(subnet, supernet, recipe, epochs=epochs, kd_ratio=kd_ratio, teacher=teacher,
                      from_scratch=from_scratch, compare_scratch=compare_scratch, out=out, threads=threads, data=data,
                      workers=workers, stop_after_epochs=stop_after_epochs, on_step=on_step)
    if run.speaks:
        view.finetuning(run.job, run.tuner, from_scratch, run.out, run.notes, human(as_json))
    with shown_if(progress, run.speaks):
        done = run.complete(resume, stop_after_epochs)
    view.finetuned(done, run.out, from_scratch, as_json)
