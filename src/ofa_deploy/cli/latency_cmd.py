"""`ofa-deploy profile`, `ofa-deploy latency validate|predict` and `ofa-deploy lut show|import|export|repair`.

Thin: parse options, call `ofa_deploy.latency` / `ofa_deploy.devices`, render with rich. `lut`
commands never import torch; `profile` and `validate` import it inside their functions.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..latency.lookup import export_official_tables, predict_subnet_file, table_to_show
from ..views import latency as view
from ..views.console import human
from ..views.progress import stage_bar
from ..views.repair import table_repaired
from . import options as opt
from .choices import OfficialStat, ProfileMethod, ProfileStat, SpaceKindChoice
from .common import fail, value
from .options import CLASSES_HELP, IN_CHANNELS_HELP, KIND_HELP, WIDTH_HELP, Opt

latency_app = typer.Typer(help="Check latency predictions against end-to-end measurements.", no_args_is_help=True)
lut_app = typer.Typer(help="Inspect, import and export latency lookup tables.", no_args_is_help=True)


# ---- profile ----------------------------------------------------------------------------------------
def profile(
    device: str = opt.device(default="cpu"),
    resolutions: str | None = opt.resolutions("160,224 | 128..224 | 128..224:16 | all (default: the largest)."),
    width: float | None = Opt(None, "--width", help=WIDTH_HELP + " Give a space (with --classes, --in-channels) to "
                              "profile it with random weights."),
    classes: int | None = Opt(None, "--classes", help=CLASSES_HELP + " [default: 1000]"),
    in_channels: int | None = Opt(None, "--in-channels", help=IN_CHANNELS_HELP + " [default: 3]"),
    kind: SpaceKindChoice | None = Opt(None, "--kind", help=KIND_HELP + " [default: ofa_mbv3]"),
    supernet: Path | None = opt.supernet("Checkpoint: its space and weights are used (default, when no space is "
                                            "given: the shipped demo supernet)."),
    out: Path | None = opt.out("Table folder (default: DEVICE/SPACE in your tables folder, $OFA_DEPLOY_TABLES or "
                                  "~/.local/share/ofa-deploy/latency_tables)."),
    runtime: str | None = Opt(None, "--runtime", help="Override the descriptor's runtime (torch...)."),
    threads: opt.DescriptorThreads = None,
    sessions: int = opt.sessions("Fresh sessions per entry (samples pooled)."),
    max_runs: opt.MaxRuns = 200,
    seed: int = opt.seed("Seed of the interleaving order and of the random weights."),
    stat: ProfileStat | None = Opt(None, "--stat", help="Statistic predictions use: median (default) or p10 (a CPU "
                                   "shared with other jobs)."),
    method: ProfileMethod | None = Opt(None, "--method", help="How rows are made: isolated (each block timed alone), "
                                       "fit (then fitted to random whole subnets timed end to end; the default), "
                                       "profiler (onnxruntime's per-node profile of whole subnets, local onnxruntime "
                                       "only). Remote devices (ssh, adb) time the fit's subnets in the blocks' "
                                       "bundle."),
    subnets: int | None = Opt(None, "--subnets", help="Whole subnets timed per resolution by --method fit / profiler "
                              "(default 150 / 15; fit on ssh / adb devices: 4)."),
    fresh: bool = Opt(False, "--fresh", help="Discard an existing table in the folder instead of resuming."),
    force: opt.ForceFolder = False,
    host: opt.Host = None,
    accept_new_host_key: opt.HostKey = False,
    serial: opt.Serial = None,
    benchmark_binary: opt.BenchmarkBinary = None,
    precision: str | None = Opt(None, "--precision", help="fp32 or int8 (blocks quantised with representative inputs "
                                "from the supernet's dataset; onnxruntime, ssh and adb devices); default: the "
                                "descriptor's precision."),
    as_json: bool = opt.json("Machine-readable summary."),
) -> None:
    """Measure the latency table of a space on a device; resumes where a previous run stopped."""
    from ..devices.profiling import ProfileOptions, ProfileRun

    run = ProfileRun(ProfileOptions(
        device, resolutions, width, classes, in_channels, value(kind), supernet, out, runtime, threads, sessions,
        max_runs, seed, value(stat), value(method), subnets, fresh, force,
        opt.remote_args(host, accept_new_host_key, serial, benchmark_binary), precision))
    view.profile_header(run, as_json)
    try:
        with stage_bar("profiling", run.block_sessions(), human(as_json)) as callbacks:
            run.measure_blocks(*callbacks)
        if total := run.incontext_sessions():
            with stage_bar("in context", total, human(as_json)) as callbacks:
                run.measure_incontext(*callbacks)
    except KeyboardInterrupt:
        fail(run.interrupted(), code=130)
    view.profiled(run, *run.finish(), as_json)


# ---- latency validate / predict -----------------------------------------------------------------
@latency_app.command("validate")
def validate_cmd(
    device: str | None = opt.device("Device whose table is checked [default: the --table's own device, else cpu]."),
    table_path: Path | None = opt.table("Table folder (default: the device's)."),
    samples: int = opt.samples(50, "Random subnets timed end to end."),
    calibrate: bool = Opt(False, "--calibrate", help="Fit ms = a*sum + b on half of the subnets, report held-out "
                          "errors, store the fit with the table (a shipped table: in a calibrated copy among the "
                          "user's tables)."),
    holdout: float = Opt(0.5, "--holdout", help="With --calibrate: share of the subnets held out of the fit and "
                         "reported (strictly between 0 and 1)."),
    resolutions: str | None = opt.resolutions("Resolutions to sample (default: the table's complete ones)."),
    width: opt.Width = None,
    classes: opt.Classes = None,
    in_channels: opt.InChannels = None,
    supernet: Path | None = opt.supernet("Checkpoint (default: random weights)."),
    sessions: int = opt.sessions("Fresh sessions per subnet (samples pooled)."),
    seed: int = opt.seed("Seed of the sampled subnets."),
    out: Path | None = opt.out("Folder for validation.csv/.png (default: the table's; a shipped table's go to the "
                                  "user's tables folder)."),
    host: opt.Host = None,
    accept_new_host_key: opt.HostKey = False,
    serial: opt.Serial = None,
    benchmark_binary: opt.BenchmarkBinary = None,
    as_json: opt.JsonShort = False,
) -> None:
    """Time random subnets whole and compare them with the table's prediction (MAPE, ±10 %, Kendall tau)."""
    from ..devices.validating import ValidateOptions, ValidationRun

    run = ValidationRun(ValidateOptions(
        device, table_path, samples, calibrate, holdout, resolutions, width, classes, in_channels, supernet, sessions,
        seed, out, opt.remote_args(host, accept_new_host_key, serial, benchmark_binary)))
    with view.validation_bars(run, samples, as_json) as (on_session, on_export):
        result = run.run(on_session=on_session, on_export=on_export)
    view.validated(result, run, samples, calibrate, as_json)


@latency_app.command("predict")
def predict_cmd(
    subnet: Path = typer.Argument(..., help="Subnet file (any supported format)."),
    device: str | None = opt.device("Device whose table is used.", default="cpu"),
    table_path: Path | None = opt.table("Table folder."),
    raw: bool = Opt(False, "--raw", help="Block sum without the stored calibration."),
    breakdown: bool = Opt(False, "--breakdown", help="Per-layer table."),
    as_json: opt.JsonShort = False,
) -> None:
    """Predicted latency of one subnet from a table."""
    view.predicted(subnet, *predict_subnet_file(subnet, device, table_path, raw), raw, breakdown, as_json)


# ---- lut ------------------------------------------------------------------------------------------
@lut_app.command("show")
def lut_show(
    table_path: Path | None = typer.Argument(None, help="Table folder (or give --device)."),
    device: str | None = opt.device("Device name: the user's table, else the shipped one."),
    width: opt.Width = None,
    classes: opt.Classes = None,
    in_channels: opt.InChannels = None,
    resolution: int | None = Opt(None, "--resolution", "-r", help="List the rows of this resolution."),
    as_json: opt.JsonShort = False,
) -> None:
    """Metadata, resolutions and completeness of a table (and its rows at one resolution)."""
    view.table_shown(table_to_show(device, table_path, width, classes, in_channels, resolution), resolution, as_json)


@lut_app.command("import")
def lut_import(
    files: list[Path] = typer.Argument(..., help="Official <r>_lookup_table.yaml files (or a folder of them)."),
    device: str = Opt(..., "--device", "-d", help="Name of the device they were measured on (note10)."),
    width: float | None = Opt(None, "--width", help=WIDTH_HELP + " Default: the kind's released one (MobileNetV3 "
                              "w1.2, the Note10 tables'; ProxylessNAS w1.3; ProxylessNAS's mobile_trim.yaml is w1.0)."),
    classes: int = Opt(1000, "--classes", help=CLASSES_HELP),
    in_channels: int = Opt(3, "--in-channels", help=IN_CHANNELS_HELP),
    kind: SpaceKindChoice = Opt("ofa_mbv3", "--kind", help=KIND_HELP),
    expands: str | None = Opt(None, "--expands", help="Expand ratios of the space, e.g. 3,6 (ProxylessNAS's "
                              "mobile_trim.yaml has no 4) [default: 3,4,6]."),
    out: Path | None = opt.out("Table folder (default: the user's tables folder, DEVICE/SPACE)."),
    force: opt.ForceFolder = False,
    as_json: opt.JsonShort = False,
) -> None:
    """Import the official per-resolution YAML lookup tables as one of our tables."""
    from ..devices.imported import import_tables

    table, folder, written = import_tables(files, device, width, classes, in_channels, value(kind), expands, out,
                                           force)
    view.imported(table, folder, written, device, as_json)


@lut_app.command("export")
def lut_export(
    table_path: Path = typer.Argument(..., help="Table folder."),
    out: Path = opt.out("Folder for the <r>_lookup_table.yaml files.", required=True),
    stat: OfficialStat = Opt(OfficialStat("mean"), "--stat", help="Statistic written as 'mean'."),
    force: opt.ForceFolder = False,
    as_json: opt.JsonShort = False,
) -> None:
    """Export a table to the official per-resolution YAML format."""
    view.exported(out, export_official_tables(table_path, out, value(stat), force), value(stat), as_json)


@lut_app.command("repair")
def lut_repair(
    table_path: Path = typer.Argument(..., help="Table folder whose table.csv repeats keys."),
    as_json: opt.Json = False,
) -> None:
    """Drop repeated rows of a table (two profiles wrote it at once): every unique row is kept."""
    from ..latency.repair import repair_table

    table_repaired(repair_table(table_path), as_json)
