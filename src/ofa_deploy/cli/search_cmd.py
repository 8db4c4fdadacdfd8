"""`ofa-deploy search` and `ofa-deploy predictor import|show|dataset|fit`: thin wrappers over
`ofa_deploy.search` and `ofa_deploy.predictor`. No torch is imported (fast start); library imports happen inside the
commands so that other commands do not pay for them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from .common import console, fail, print_json, progress_bar

predictor_app = typer.Typer(help="Accuracy predictors: import the official one, build an accuracy dataset of a "
                                 "supernet, fit and inspect predictors.",
                            no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.add_typer(predictor_app, name="predictor")


# ---- predictor ------------------------------------------------------------------------------
@predictor_app.command("import")
def predictor_import(
    pth: Path = typer.Argument(..., help="The official acc_predictor.pth (OFA tutorial, ImageNet, w1.2 space)."),
    out: Path = typer.Option(..., "--out", "-o", help="Predictor file to write (.npz)."),
    width: float = typer.Option(1.2, "--width", help="Width multiplier of the space it belongs to."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Import the official OFA accuracy predictor into our predictor file (read without torch)."""
    from ..predictor import import_official
    from ..space import official_space

    pred = import_official(pth, official_space(width))
    path = pred.save(out)
    if as_json:
        print_json({"path": str(path), **pred.summary()})
        return
    console.print(f"wrote {path}  [dim]({pred.describe()}, {path.stat().st_size / 1e6:.1f} MB)[/]")


@predictor_app.command("show")
def predictor_show(
    file: Path = typer.Argument(..., help="Predictor file (.npz)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """What a predictor file holds: its space, model, encoding, resolutions and source."""
    from ..predictor import Predictor

    info = Predictor.load(file).summary()
    if as_json:
        print_json(info)
        return
    layers = info["model"].get("layers")
    console.print(f"predictor    {file}")
    console.print(f"space        {info['space']}")
    console.print(f"model        {info['model']['kind']}" + (f" {' -> '.join(str(w[1]) for w in layers)} -> 1"
                                                             if layers else "") + f", {info['weights']:,} weights")
    enc = info["encoding"]
    r = enc["resolution"]
    console.print(f"encoding     {enc['kind']}: {info['features']} features (kernel, expand one-hot per slot; "
                  f"resolution bucket (r - {r['start']}) // {r['step']}, {r['buckets']} buckets)")
    console.print(f"resolutions  {', '.join(map(str, info['resolutions']))}")
    console.print(f"target       {info['target']}")
    for k, v in info["meta"].items():
        console.print(f"{k:<12} {v}")



@predictor_app.command("dataset")
def predictor_dataset(
    supernet: Path | None = typer.Option(None, "--supernet", "-s",
                                         help="Supernet checkpoint written by `ofa-deploy train` (default: the "
                                              "shipped demo supernet)."),
    samples: int = typer.Option(400, "--samples", "-n", help="Subnets to measure (raise it later to add more)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Dataset folder: meta.json + rows.csv, resumed when it exists "
                                         "(default: runs/accuracy-<supernet name>)."),
    val_images: int | None = typer.Option(None, "--val-images",
                                          help="Validation images per subnet (default: the whole validation "
                                               "split, 5,000 for Fashion-MNIST)."),
    bn_images: int = typer.Option(2000, "--bn-images", help="Validation images for BN recalibration."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (the same seed gives the same subnets)."),
    threads: int | None = typer.Option(None, "--threads", help="torch intra-op threads (default: torch's); 1 when other "
                                                          "jobs share the CPU (waiting threads slow it down)."),
    dataset: str | None = typer.Option(None, "--dataset",
                                       help="Image dataset: fashion-mnist, folder or synthetic (default: the "
                                            "one of the recipe that trained the supernet)."),
    data: Path | None = typer.Option(None, "--data", help="Folder of the image dataset (idx files, or an "
                                                          "ImageNet-style folder)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (no progress bar)."),
) -> None:
    """Measure the validation top-1 of sampled subnets (BN recalibrated): the rows a predictor is fitted on.

    Rows are appended as they are measured; run the same command again to resume after an interruption.
    """
    from ..nn.shipped import ShippedSupernetMissing, shipped_supernet_path
    from ..predictor.dataset import DatasetBuilder, supernet_label

    for name, value in (("--samples", samples), ("--val-images", val_images), ("--bn-images", bn_images),
                        ("--threads", threads)):
        if value is not None and value < 1:
            fail(f"{name} must be at least 1, got {value}")
    if supernet is None:
        try:
            supernet = shipped_supernet_path()
        except ShippedSupernetMissing as e:
            fail(str(e).replace("--checkpoint", "--supernet"))
    elif not supernet.is_file():
        fail(f"supernet {supernet}: no such file; give a checkpoint written by `ofa-deploy train`")
    folder = out or Path("runs") / f"accuracy-{supernet_label(supernet)}"
    builder = DatasetBuilder(folder, supernet, samples, seed, val_images, bn_images, threads=threads,
                             dataset_kind=dataset, data_root=str(data) if data is not None else None)
    todo = len(builder.remaining)
    if not as_json:
        console.print(f"accuracy dataset [bold]{folder}[/]: {builder.spec.describe()}; "
                      f"{builder.splits.name} validation split, {builder.meta['val_images']:,} images per subnet "
                      f"(BN on {builder.meta['bn_images']:,}); {len(builder.plan) - todo} of {len(builder.plan)} "
                      f"subnets measured, {todo} to go")
    if as_json or todo == 0:
        summary = builder.run()
    else:
        bar = progress_bar("last {task.fields[acc]}")
        task = bar.add_task("subnets", total=len(builder.plan), completed=len(builder.plan) - todo, acc="-")

        def on_row(info: dict[str, Any]) -> None:
            bar.update(task, completed=info["done"],
                       acc=f"{100 * info['accuracy']:.2f}% in {info['seconds']:.1f}s ({info['arch'].short()})")

        try:
            with bar:
                summary = builder.run(on_row)
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted[/] with {len(builder.done)} of {len(builder.plan)} subnets in "
                          f"{folder}; run the same command again to resume")
            raise typer.Exit(130) from None
    if as_json:
        print_json(summary)
        return
    acc = summary["accuracy"]
    console.print(f"measured {summary['new']} subnet(s) in {summary['wall_seconds']:.0f}s; {summary['rows']} rows, "
                  f"{summary['seconds_per_subnet']:.2f}s per subnet on average")
    if acc:
        console.print(f"top-1 (validation)  min {100 * acc['min']:.2f}%  mean {100 * acc['mean']:.2f}%  "
                      f"max {100 * acc['max']:.2f}%")
    console.print(f"wrote {folder / 'rows.csv'}; next: ofa-deploy predictor fit {folder} --out P.npz")


@predictor_app.command("fit")
def predictor_fit(
    folder: Path = typer.Argument(..., help="Accuracy dataset folder (from `ofa-deploy predictor dataset`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Predictor file to write (.npz)."),
    holdout: float = typer.Option(0.2, "--holdout", help="Fraction of rows held out for the reported metrics "
                                                         "(0: fit every row, no metrics)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out split and of the MLP's initialisation."),
    hidden: str = typer.Option("400,400,400", "--hidden", help="Hidden layer widths (the official predictor's)."),
    alpha: float = typer.Option(1e-4, "--alpha", help="L2 penalty of the MLP."),
    name: str | None = typer.Option(None, "--name", help="Name recorded in the predictor file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Fit an MLP accuracy predictor on an accuracy dataset; report held-out RMSE, Kendall tau, Spearman."""
    from ..predictor.dataset import load_accuracy_dataset
    from ..predictor.fit import fit_predictor

    try:
        widths = tuple(int(v) for v in hidden.split(","))
    except ValueError:
        fail(f"--hidden takes comma-separated layer widths such as 400,400,400, got {hidden!r}")
    if not 0 <= holdout < 1:
        fail(f"--holdout is a fraction of the rows in [0, 1), got {holdout}")
    if alpha < 0:
        fail(f"--alpha must be >= 0, got {alpha}")
    data = load_accuracy_dataset(folder)
    result = fit_predictor(data, holdout, seed, widths, alpha=alpha, name=name)
    path = result.predictor.save(out)
    metrics = {"fit": result.train_metrics, "holdout": result.holdout_metrics}
    if as_json:
        print_json({"path": str(path), "rows": len(data), "metrics": metrics, **result.predictor.summary()})
        return
    t = Table(title=f"MLP {'-'.join(map(str, widths))} fitted on {len(data)} subnets of {folder}", title_justify="left")
    for col in ("rows", "n", "RMSE (points)", "Kendall tau", "Spearman"):
        t.add_column(col, justify="left" if col == "rows" else "right")
    for label, m in (("fitted", result.train_metrics), ("held out", result.holdout_metrics)):
        if m is not None:
            t.add_row(label, str(m["n"]), f"{m['rmse_points']:.2f}", f"{m['kendall_tau']:.3f}", f"{m['spearman']:.3f}")
    console.print(t)
    console.print(f"[dim]{result.predictor.meta['fit']}[/]")
    console.print(f"wrote {path}  [dim]({path.stat().st_size / 1e6:.1f} MB)[/]")

# ---- search ---------------------------------------------------------------------------------
def search(
    device: str | None = typer.Option(None, "--device", "-d",
                                         help="Device whose latency table to use (the user's, else the shipped one)."),
    latency: str | None = typer.Option(None, "--latency", "-l",
                                          help="Latency budget(s): 22ms, 0.022s; several: 15ms,20ms,25ms."),
    flops: str | None = typer.Option(None, "--flops",
                                        help="FLOPs budget (multiply-accumulates, as OFA counts): 300M, 0.3G."),
    params: str | None = typer.Option(None, "--params", help="Parameter budget: 5M, 4.5M."),
    table: Path | None = typer.Option(None, "--table", "-t",
                                         help="Latency table folder (ours, or official <r>_lookup_table.yaml files)."),
    predictor: Path | None = typer.Option(None, "--predictor", "-p", help="Accuracy predictor file (.npz)."),
    supernet: str | None = typer.Option(None, "--supernet", "-s",
                                           help="Supernet: our checkpoint, a subnet/space file, or ofa-mbv3-w1.2 "
                                                "(default: the predictor's space)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same result)."),
    pareto: bool = typer.Option(False, "--pareto", help="Sweep budgets from the smallest achievable to the largest."),
    points: int = typer.Option(8, "--points", help="Number of budgets of a --pareto sweep."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                       help="Subnet file to write (a folder for several budgets); default: under "
                                            "the state folder ($OFA_DEPLOY_HOME or ~/.cache/ofa-deploy)."),
    generations: int = typer.Option(500, "--generations", help="Generations of the evolution.", hidden=True),
    population: int = typer.Option(100, "--population", help="Population size.", hidden=True),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Find the subnet with the best predicted accuracy under every budget given, in about a second."""
    from ..search import (
        Budget,
        EvolutionConfig,
        build_problem,
        format_count,
        format_ms,
        pareto_budgets,
        parse_count,
        parse_latency,
        parse_list,
        plot,
        remember_last_search,
        searches_dir,
        sweep,
        write_result,
    )
    from ..search.sources import resolve_predictor, resolve_supernet, resolve_table

    latencies = parse_list(latency, parse_latency) if latency else []
    flops_v = parse_count(flops, "FLOPs") if flops else None
    params_v = parse_count(params, "parameter") if params else None
    if not latencies and flops_v is None and params_v is None and not pareto:
        fail("give at least one budget: --latency 22ms, --flops 300M or --params 5M (or --pareto)")
    if (latencies or (pareto and flops_v is None)) and device is None and table is None:
        fail("a latency budget needs a latency table: give --device D (shipped table) or --table T")
    pred, pred_info = resolve_predictor(predictor)
    spec, label, supernet_info = resolve_supernet(supernet, pred)
    lut, table_info = resolve_table(device, table, spec)
    dev = device or (lut.device if lut is not None else None)
    problem = build_problem(spec, pred, lut, dev, supernet_label=label)
    config = EvolutionConfig(population=population, generations=generations)
    base = Budget(None, flops_v, params_v)
    sources: dict[str, Any] = {"latency_table": table_info or None, "predictor": pred_info,
                               "supernet": supernet_info}

    if pareto:
        objective = "latency" if lut is not None else "flops"
        values = pareto_budgets(problem, objective, points) if not latencies else latencies
        results = sweep(problem, base, objective, values, config, seed)
    elif len(latencies) > 1:
        objective = "latency"
        results = sweep(problem, base, "latency", latencies, config, seed)
    else:
        objective = None
        from ..search import search as run_search

        results = [run_search(problem, Budget(latencies[0] if latencies else None, flops_v, params_v), config, seed)]

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    tag = dev or "nodevice"
    files: list[Path] = []
    if objective is None:
        r = results[0]
        path = out or searches_dir() / f"{stamp}_{tag}_{_budget_tag(r.budget)}.json"
        files.append(write_result(r, spec, path, sources))
        png = None
    else:
        folder = out or searches_dir() / f"{stamp}_{tag}_sweep"
        for r in results:
            files.append(write_result(r, spec, Path(folder) / f"subnet_{_budget_tag(r.budget)}.json", sources))
        png = plot(results, Path(folder) / "pareto.png", title=f"{tag}: best predicted accuracy per budget",
                   x="latency" if objective == "latency" else "flops")
    remember_last_search(files[-1], files, budget=results[-1].budget.to_dict())

    rows = []
    for r, f in zip(results, files):
        rows.append({"budget": r.budget.to_dict(), "accuracy": r.accuracy, "latency_ms": r.latency_ms,
                     "flops": r.flops, "params": r.params, "resolution": r.arch.r, "arch": r.arch.to_dict(),
                     "seconds": r.seconds, "path": str(f)})
    if as_json:
        print_json({"results": rows, "path": str(files[-1]), "plot": str(png) if png else None,
                    "resolutions": list(problem.resolutions), "device": dev, **sources})
        return
    t = Table(title=f"search on {tag}  [dim](resolutions {', '.join(map(str, problem.resolutions))}; "
                    f"seed {seed})[/]", title_justify="left")
    for col in ("budget", "pred. top-1", "latency", "FLOPs", "params", "arch", "time"):
        t.add_column(col, justify="left" if col in ("budget", "arch") else "right")
    for r in results:
        t.add_row(r.budget.describe(), f"{100 * r.accuracy:.2f}%",
                  format_ms(round(r.latency_ms, 2)) if r.latency_ms is not None else "-",
                  format_count(round(r.flops, -5)), format_count(round(r.params, -4)), r.arch.short(),
                  f"{r.seconds:.2f}s")
    console.print(t)
    if png is not None:
        console.print(f"plot        {png}")
    for f in files:
        console.print(f"wrote       {f}")
    console.print(f"[dim]remembered {files[-1]} as the default input of `ofa-deploy export`[/]")


def _budget_tag(budget: Any) -> str:
    from ..search import format_count, format_ms

    parts = []
    if budget.latency_ms is not None:
        parts.append("lat" + format_ms(budget.latency_ms))
    if budget.flops is not None:
        parts.append("flops" + format_count(budget.flops))
    if budget.params is not None:
        parts.append("params" + format_count(budget.params))
    return "_".join(parts).replace(".", "p") or "nobudget"
