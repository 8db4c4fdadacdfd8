"""What `ofa-deploy predictor import|show|dataset|fit` print (`predictor repair`: `views.repair`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from .console import console, err_console, print_json, rich_table
from .progress import progress_bar


def imported(pred: Any, path: Path, as_json: bool, out: Console = console) -> None:
    """`predictor import`: the predictor file written."""
    if as_json:
        print_json({"path": str(path), **pred.summary()})
        return
    out.print(f"wrote {path}  [dim]({pred.describe()}, {path.stat().st_size / 1e6:.1f} MB)[/]")


def shown(file: Path, info: dict, as_json: bool, out: Console = console) -> None:
    """`predictor show`: `Predictor.summary()` of the file, one line per field."""
    from ..space.spec import _range_text

    if as_json:
        print_json(info)
        return
    layers = info["model"].get("layers")
    out.print(f"predictor    {file}")
    out.print(f"space        {info['space']}")
    out.print(f"model        {info['model']['kind']}" + (f" {' -> '.join(str(w[1]) for w in layers)} -> 1"
                                                         if layers else "") + f", {info['weights']:,} weights")
    enc = info["encoding"]
    r = enc["resolution"]
    out.print(f"encoding     {enc['kind']}: {info['features']} features ({info['layout']}; "
              f"resolution bucket (r - {r['start']}) // {r['step']}, {r['buckets']} buckets)")
    out.print(f"resolutions  r {_range_text(tuple(info['resolutions']))} (what the encoding covers; a search "
              "uses the space's resolutions that it covers)")
    out.print(f"target       {info['target']}")
    for k, v in info["meta"].items():
        out.print(f"{k:<12} {v}")


def dataset_start(builder: Any, folder: Path, as_json: bool, out: Console = console) -> None:
    """`predictor dataset`: what the `DatasetBuilder` will measure (rank 0 only; not in --json)."""
    if as_json or builder.rank != 0:
        return
    todo = len(builder.remaining)
    if builder.world > 1:
        out.print(f"accuracy dataset [bold]{folder}[/]: {todo} of {len(builder.plan)} subnets "
                  f"to measure over {builder.world} processes ({builder.torch_device})")
        return
    out.print(f"accuracy dataset [bold]{folder}[/]: {builder.spec.describe()}; "
              f"{builder.splits.name} validation split, {builder.meta['val_images']:,} images per subnet "
              f"(BN on {builder.meta['bn_images']:,}); {len(builder.plan) - todo} of {len(builder.plan)} "
              f"subnets measured, {todo} to go")


@contextmanager
def dataset_bar(builder: Any, as_json: bool, stop_after_rows: int | None,
                out: Console = console) -> Iterator[Callable[[dict[str, Any]], None] | None]:
    """The bar of subnets measured, with the last one's accuracy; yields the builder's `on_row(info)`, or None
    where a bar has nothing to show (every rank under torchrun, --json, nothing to measure, --stop-after-rows)."""
    if builder.world > 1 or as_json or not builder.remaining or stop_after_rows is not None:
        yield None
        return
    bar = progress_bar("last {task.fields[acc]}", out=out)
    todo = len(builder.remaining)
    task = bar.add_task("subnets", total=len(builder.plan), completed=len(builder.plan) - todo, acc="-")

    def on_row(info: dict[str, Any]) -> None:
        bar.update(task, completed=info["done"],
                   acc=f"{100 * info['accuracy']:.2f}% in {info['seconds']:.1f}s ({info['arch'].short()})")

    with bar:
        yield on_row


def dataset_interrupted(builder: Any, folder: Path, out: Console = console) -> None:
    out.print(f"[yellow]interrupted[/] with {len(builder.done)} of {len(builder.plan)} subnets in "
              f"{folder}; run the same command again to resume")


def shard_stopped(summary: dict) -> None:
    err_console.print(f"stopped after {summary['new']} new row(s) (--stop-after-rows); run the same command "
                      "again to resume")


def dataset_done(builder: Any, folder: Path, summary: dict, as_json: bool, out: Console = console) -> None:
    """`DatasetBuilder.run()`'s summary: subnets measured, accuracies, skipped images, the next step."""
    if as_json:
        print_json(summary)
        return
    if builder.world > 1:
        out.print(f"measured {summary['new']} subnet(s) in {summary['wall_seconds']:.0f}s over {builder.world} "
                  f"processes; {summary['rows']} rows. wrote {folder / 'rows.csv'}")
        return
    acc = summary["accuracy"]
    out.print(f"measured {summary['new']} subnet(s) in {summary['wall_seconds']:.0f}s; {summary['rows']} rows, "
              f"{summary['seconds_per_subnet']:.2f}s per subnet on average")
    if acc:
        out.print(f"top-1 (validation)  min {100 * acc['min']:.2f}%  mean {100 * acc['mean']:.2f}%  "
                  f"max {100 * acc['max']:.2f}%")
    if summary.get("skipped_images"):
        sk = summary["skipped_images"]
        out.print(f"[yellow]skipped[/] {sk['count']} unreadable image read(s) (--skip-bad-images), e.g. "
                  f"{', '.join(sk['examples'][:3])}", highlight=False)
    out.print(f"wrote {folder / 'rows.csv'}; next: ofa-deploy predictor fit {folder} --out P.npz")


def fitted(result: Any, rows: int, folder: Path, hidden: str, path: Path, as_json: bool,
           out: Console = console) -> None:
    """`predictor fit`: the fitted and held-out metrics, the verdict, the fit's record and the file
    (`hidden`: the --hidden text)."""
    from ..predictor.fit import parse_hidden
    from ..verdicts import predictor_verdict

    if as_json:
        print_json({"path": str(path), "rows": rows, "metrics": {"fit": result.train_metrics,
                    "holdout": result.holdout_metrics}, **result.predictor.summary()})
        return
    t = rich_table(f"MLP {'-'.join(map(str, parse_hidden(hidden)))} fitted on {rows} subnets of {folder}",
                   ("rows", "n", "RMSE (points)", "Kendall tau", "Spearman"))
    for label, m in (("fitted", result.train_metrics), ("held out", result.holdout_metrics)):
        if m is not None:
            t.add_row(label, str(m["n"]), f"{m['rmse_points']:.2f}", f"{m['kendall_tau']:.3f}", f"{m['spearman']:.3f}")
    out.print(t)
    out.print(predictor_verdict(result.holdout_metrics).line(), highlight=False)
    out.print(f"[dim]{result.predictor.meta['fit']}[/]")
    out.print(f"wrote {path}  [dim]({path.stat().st_size / 1e6:.1f} MB)[/]")
