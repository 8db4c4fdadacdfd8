"""Progress shown while the library works: the one progress-bar style, the bars of the profiling
stages and of training epochs, and the spinner naming the current step of an export or a benchmark.

Each yields or returns the callbacks the library calls (`on_session`, `on_step(info)`, `steps(name)`);
the library never prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from rich.console import Console

from .console import console


def progress_bar(*fields: str, out: Console = console) -> Any:
    """The one progress-bar style: description, bar, done/total, `fields` (rich TextColumn
    templates such as "loss {task.fields[loss]:.3f}"), elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *(TextColumn(f) for f in fields), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"),
                    TimeRemainingColumn(), console=out, transient=False)


@contextmanager
def stage_bar(label: str, total: int, out: Console) -> Iterator[tuple[Callable | None, Callable | None]]:
    """A bar of `total` timing sessions named `label`, then `r=<resolution> <what>` as each
    resolution starts; yields the `(on_session, on_resolution)` callbacks (total 0: no bar, no callbacks)."""
    if not total:
        yield None, None
        return
    with progress_bar(out=out) as bar:
        task = bar.add_task(label, total=total)
        yield (lambda _: bar.advance(task)), (lambda r, p: bar.update(task, description=f"r={r} {p}"))


def epoch_progress(out: Console, key: Any) -> tuple[Any, Any]:
    """The training progress bar and the `on_step(info)` callback that draws it: one task per epoch
    (`key(info)` names it: the epoch, or the phase and epoch), with the running loss."""
    progress = progress_bar("loss {task.fields[loss]:.3f}", out=out)
    tasks: dict[Any, int] = {}

    def on_step(info: dict) -> None:
        k = key(info)
        if k not in tasks:
            tasks[k] = progress.add_task(f"{info['phase']} epoch {info['epoch'] + 1}/{info['epochs']}",
                                         total=info["steps"], loss=0.0)
        progress.update(tasks[k], completed=info["step"], loss=info["loss"])

    return progress, on_step


def shown_if(progress: Any, speaks: bool) -> Any:
    """`progress` where this process speaks (alone, or rank 0 under torchrun), else a context that draws nothing."""
    return progress if speaks else nullcontext()


class Steps:
    """The callback the library calls at the start of every step (`steps(name)`), and `progress(text)`
    for how far the current step is, shown beside its name on the spinner."""

    def __init__(self, out: Console, status: Any):
        self.out, self.status = out, status
        self.current: str | None = None
        self.started = time.perf_counter()

    def finish(self) -> None:
        if self.current is not None:
            self.out.print(f"[green]✓[/] {self.current} [dim]({time.perf_counter() - self.started:.1f} s)[/]")

    def __call__(self, name: str) -> None:
        self.finish()
        self.current, self.started = name, time.perf_counter()
        self.status.update(f"{name}...")

    def progress(self, text: str) -> None:
        if self.current is not None:
            self.status.update(f"{self.current}... {text}")


@contextmanager
def steps() -> Iterator[Steps]:
    """A spinner naming the current step; each finished step is printed with its duration.
    Yields the callback the library calls at the start of every step.

    The spinner's console writes to a duplicate of stderr's descriptor: while a converter runs, the
    library redirects descriptors 1 and 2 to a log (`runtime.quiet`), and the spinner must still
    reach the terminal."""
    with os.fdopen(os.dup(2), "w") as stream:
        out = Console(file=stream, highlight=False)
        with out.status("starting") as status:
            step = Steps(out, status)
            yield step
            step.finish()
