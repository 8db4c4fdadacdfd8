"""`ofa-deploy search` and `ofa-deploy predictor import|show|dataset|fit`: thin wrappers over
`ofa_deploy.search` and `ofa_deploy.predictor`. No torch is imported (fast start); library imports happen inside the
commands so that other commands do not pay for them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..views import predictor as view
from ..views import search as search_view
from ..views.repair import dataset_repaired
from . import options as opt
from .choices import DatasetKind
from .common import fail, value
from .options import Opt

predictor_app = typer.Typer(help="Accuracy predictors: import the official one, build an accuracy dataset of a "
                                 "supernet, fit and inspect predictors.",
                            no_args_is_help=True)


# ---- predictor ------------------------------------------------------------------------------
@predictor_app.command("import")
def predictor_import(
    pth: Path = typer.Argument(..., help="The official acc_predictor.pth (OFA tutorial, ImageNet, w1.2 space)."),
    out: opt.PredictorOut = ...,
    width: float = Opt(1.2, "--width", help="Width multiplier of the space it belongs to."),
    force: opt.ReplaceOut = False,
    as_json: opt.Json = False,
) -> None:
    """Import the official OFA accuracy predictor into our predictor file (read as tensors only, never run)."""
    from ..predictor.official import import_official_file

    view.imported(*import_official_file(pth, out, width, force), as_json)


@predictor_app.command("show")
def predictor_show(
    file: Path = typer.Argument(..., help="Predictor file (.npz)."),
    as_json: opt.Json = False,
) -> None:
    """What a predictor file holds: its space, model, encoding, resolutions and source."""
    from ..predictor import Predictor

    view.shown(file, Predictor.load(file).summary(), as_json)


@predictor_app.command("dataset")
def predictor_dataset(
    supernet: Path | None = opt.supernet("Supernet checkpoint written by `ofa-deploy train` (default: the shipped "
                                         "demo supernet)."),
    samples: int = opt.samples(400, "Subnets to measure (raise it later to add more)."),
    out: Path | None = opt.out("Dataset folder: meta.json + rows.csv, resumed when it exists (default: "
                               "runs/accuracy-<supernet name>)."),
    val_images: int | None = Opt(None, "--val-images", help="Validation images per subnet (default: the whole "
                                 "validation split, 5,000 for Fashion-MNIST)."),
    bn_images: int = Opt(2000, "--bn-images", help="Validation images for BN recalibration."),
    seed: int = opt.seed("Sampling seed (the same seed gives the same subnets)."),
    threads: int | None = opt.threads("torch intra-op threads (default: torch's); 1 when other jobs share the CPU "
                                      "(waiting threads slow it down)."),
    dataset: DatasetKind | None = Opt(None, "--dataset", help="Image dataset (default: the one of the recipe that "
                                      "trained the supernet)."),
    data: Path | None = Opt(None, "--data", help="Folder of the image dataset (idx files, or an ImageNet-style "
                            "folder)."),
    force: opt.ForceFolder = False,
    bn_batch: int | None = Opt(None, "--bn-batch", help="Batch size of BN calibration (default: 200 for a folder, "
                               "250 for arrays)."),
    bn_transform: str | None = Opt(None, "--bn-transform", help="train (upstream, seeded) or eval (deterministic); "
                                   "default: train for an ImageNet folder, eval for arrays."),
    workers: opt.FolderWorkers = None,
    skip_bad_images: bool = Opt(False, "--skip-bad-images", help="Skip unreadable images (counted)."),
    device: str = Opt("cpu", "--device", "-d", help="Where BN recalibration and evaluation run: cpu, cuda or cuda:N "
                      "(under torchrun, cuda is each process's own GPU)."),
    resolutions: str | None = opt.resolutions("Sample only these resolutions: 160 | 160,224 | 128..224:32 (default: "
                                              "all of the space's)."),
    stop_after_rows: int | None = Opt(None, "--stop-after-rows", hidden=True,
                                      help="Stop once this many new rows are written (testing resume)."),
    as_json: bool = opt.json("Machine-readable output (no progress bar)."),
) -> None:
    """Measure the validation top-1 of sampled subnets (BN recalibrated): the rows a predictor is fitted on.

    Rows are appended as they are measured; run the same command again to resume after an interruption.
    Under `torchrun --nproc_per_node N` the subnets are shared out over the N processes (rank 0 writes).
    """
    from ..predictor.dataset_run import dataset_builder, dataset_folder, dataset_supernet

    supernet = dataset_supernet(supernet)
    folder = dataset_folder(out, supernet)
    with dataset_builder(folder, supernet, samples, seed, val_images, bn_images, resolutions, workers, stop_after_rows,
                         threads=threads, dataset_kind=value(dataset), data_root=str(data) if data is not None else None,
                         force=force, bn_batch=bn_batch, bn_transform=bn_transform, skip_bad_images=skip_bad_images,
                         device=device) as builder:
        view.dataset_start(builder, folder, as_json)
        try:
            with view.dataset_bar(builder, as_json, stop_after_rows) as on_row:
                summary = builder.run(on_row, stop_after=stop_after_rows)
        except KeyboardInterrupt:
            view.dataset_interrupted(builder, folder)
            raise typer.Exit(130) from None
        if builder.rank != 0:
            return
        if builder.world > 1 and summary.get("stopped"):
            view.shard_stopped(summary)
            raise typer.Exit(3)  # not 0: torchrun then stops the ranks still measuring
        view.dataset_done(builder, folder, summary, as_json)


@predictor_app.command("fit")
def predictor_fit(
    folder: Path = typer.Argument(..., help="Accuracy dataset folder (from `ofa-deploy predictor dataset`)."),
    out: opt.PredictorOut = ...,
    holdout: float = Opt(0.2, "--holdout", help="Fraction of rows held out for the reported metrics (0: fit every "
                         "row, no metrics)."),
    seed: int = opt.seed("Seed of the held-out split and of the MLP's initialisation."),
    hidden: str = Opt("400,400,400", "--hidden", help="Hidden layer widths (the official predictor's)."),
    alpha: float = Opt(1e-4, "--alpha", help="L2 penalty of the MLP."),
    name: str | None = Opt(None, "--name", help="Name recorded in the predictor file."),
    force: opt.ReplaceOut = False,
    as_json: opt.Json = False,
) -> None:
    """Fit an MLP accuracy predictor on an accuracy dataset; report held-out RMSE, Kendall tau, Spearman."""
    from ..predictor.fit import fit_file

    result, data, path = fit_file(folder, out, holdout, seed, hidden, alpha, name, force)
    view.fitted(result, len(data), folder, hidden, path, as_json)


@predictor_app.command("repair")
def predictor_repair(
    folder: Path = typer.Argument(..., help="Accuracy dataset folder whose rows.csv repeats subnets."),
    as_json: opt.Json = False,
) -> None:
    """Drop repeated rows of an accuracy dataset (two builders wrote it at once): every unique row is kept."""
    from ..predictor.dataset import repair_dataset

    dataset_repaired(repair_dataset(folder), as_json)


# ---- search ---------------------------------------------------------------------------------
def search(
    device: str | None = opt.device("Device whose latency table to use (the user's, else the shipped one; default: "
                                    "the device of the last `ofa-deploy profile`, else cpu)."),
    latency: str | None = Opt(None, "--latency", "-l", help="Latency budget(s): 22ms, 0.022s; several: "
                              "15ms,20ms,25ms."),
    flops: str | None = Opt(None, "--flops", help="FLOPs budget (multiply-accumulates, as OFA counts): 300M, 0.3G."),
    params: str | None = Opt(None, "--params", help="Parameter budget: 5M, 4.5M."),
    table: Path | None = opt.table("Latency table folder (ours, or official <r>_lookup_table.yaml files)."),
    predictor: Path | None = Opt(None, "--predictor", "-p", help="Accuracy predictor file (.npz)."),
    supernet: str | None = opt.supernet("Supernet: our checkpoint, an official one, a subnet/space file, or "
                                        "ofa-mbv3-w1.2 (default: the predictor's space)."),
    seed: int = opt.seed("Random seed (same seed, same result)."),
    pareto: bool = Opt(False, "--pareto", help="Sweep budgets from the smallest achievable to the largest."),
    points: int = Opt(8, "--points", help="Number of budgets of a --pareto sweep."),
    out: Path | None = opt.out("Subnet file to write (a folder for several budgets); default: under the user data "
                               "folder ($OFA_DEPLOY_HOME or ~/.local/share/ofa-deploy)/searches."),
    generations: int = Opt(500, "--generations", help="Generations of the evolution.", hidden=True),
    population: int = Opt(100, "--population", help="Population size.", hidden=True),
    force: opt.ReplaceOut = False,
    verify: bool | None = Opt(None, "--verify/--no-verify", help="Measure the chosen subnet end to end on the device "
                              "and search again under a tighter budget when it is over (default: on for local devices "
                              "with known supernet weights; one latency budget only, sweeps are not verified)."),
    verify_top: int = Opt(3, "--verify-top", help="With --verify: how many of the best subnets (by predicted accuracy, "
                          "all within the budget) are measured; the most accurate whose measured latency meets the "
                          "budget is delivered."),
    margin: str | None = Opt(None, "--margin", help="Search under a predicted latency budget tighter by this share "
                             "(5%), for devices you cannot verify on."),
    host: opt.Host = None,  # the remote options: --verify on ssh and adb devices
    accept_new_host_key: opt.HostKey = False,
    serial: opt.Serial = None,
    benchmark_binary: opt.BenchmarkBinary = None,
    precision: str | None = Opt(None, "--precision", help="The precision the subnet will ship in: fp32 or int8; picks "
                                "the device's latency table of that precision (default: the device descriptor's "
                                "precision)."),
    as_json: opt.Json = False,
) -> None:
    """Find the subnet with the best predicted accuracy under every budget given.

    The evolution takes about a second; on a local device --verify then times the best subnets (seconds more).
    """
    from ..search import EvolutionConfig, SearchRequest, run_search
    from ..search.verify import parse_margin

    said: list[str] = []  # the search's findings (verify rounds, drift), shown after its header notes

    req = SearchRequest.from_text(latency, flops, params, pareto=pareto, points=points, device=device, table=table,
                                  predictor=predictor, supernet=supernet, seed=seed, out=out, force=force,
                                  config=EvolutionConfig(population=population, generations=generations),
                                  verify=verify, margin=parse_margin(margin), verify_top=verify_top,
                                  remote=opt.remote_args(host, accept_new_host_key, serial, benchmark_binary),
                                  say=said.append, precision=precision)
    try:
        outcome = run_search(req)
    except KeyboardInterrupt:
        fail(req.interrupted(), code=130)
    search_view.searched(outcome, latency, said, seed, as_json)
    if outcome.failure:
        fail(outcome.failure, code=1)
