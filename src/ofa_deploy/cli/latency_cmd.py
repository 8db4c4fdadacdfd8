"""`ofa-deploy profile`, `ofa-deploy latency validate|predict` and `ofa-deploy lut show|import|export|repair`.

Thin: parse options, call `ofa_deploy.latency` / `ofa_deploy.devices`, render with rich. `lut`
commands never import torch; `profile` and `validate` import it inside their functions.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .. import checks
from ..space import SpaceSpec
from ..space.options import space_from_options
from . import options as opt
from .choices import OfficialStat, ProfileMethod, ProfileStat, SpaceKindChoice
from .common import console, err_console, fail, next_step, print_json, progress_bar, value
from .options import CLASSES_HELP, IN_CHANNELS_HELP, KIND_HELP, WIDTH_HELP, Opt
from .render import print_repair, rich_table

latency_app = typer.Typer(help="Check latency predictions against end-to-end measurements.", no_args_is_help=True)
lut_app = typer.Typer(help="Inspect, import and export latency lookup tables.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
    app.add_typer(latency_app, name="latency")
    app.add_typer(lut_app, name="lut")


# ---- helpers --------------------------------------------------------------------------------------
def find_table(device: str | None, table: Path | None, spec: SpaceSpec | None):
    from ..latency.resolve import resolve_table

    # --device defaults to cpu here: with --table it would mislabel official YAML tables.
    return resolve_table(device if table is None else None, table, spec).table


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
                                       "fit (then fitted to random whole subnets timed end to end; the default on "
                                       "local devices), profiler (onnxruntime's per-node profile of whole subnets). "
                                       "Remote devices (ssh, adb): isolated by default; fit also works there."),
    subnets: int | None = Opt(None, "--subnets", help="Whole subnets timed per resolution by --method fit / profiler "
                              "(default 150 / 15)."),
    fresh: bool = Opt(False, "--fresh", help="Discard an existing table in the folder instead of resuming."),
    force: opt.ForceFolder = False,
    host: opt.Host = None,
    accept_new_host_key: bool = opt.host_key("ssh devices: record an unknown host key on first use (a changed "
                                                "key is still refused)."),
    serial: str | None = opt.serial("adb devices: the phone's serial from `adb devices` (default: the only one "
                                       "attached)."),
    benchmark_binary: opt.BenchmarkBinary = None,
    precision: str | None = Opt(None, "--precision", help="fp32 or int8 (blocks quantised with representative inputs "
                                "from the supernet's dataset; onnxruntime, ssh and adb devices); default: the "
                                "descriptor's precision."),
    as_json: bool = opt.json("Machine-readable summary."),
) -> None:
    """Measure the latency table of a space on a device; resumes where a previous run stopped."""
    from ..devices.profiling import ProfileOptions, ProfileRun
    from ..flow import next_after_profile

    run = ProfileRun(ProfileOptions(
        device, resolutions, width, classes, in_channels, value(kind), supernet, out, runtime, threads, sessions,
        max_runs, seed, value(stat), value(method), subnets, fresh, force,
        opt.remote_args(host, accept_new_host_key, serial, benchmark_binary), precision))
    if not as_json:
        _print_profile_header(run)
    bars = err_console if as_json else console
    try:
        if run.block_sessions():
            with progress_bar(out=bars) as bar:
                task = bar.add_task("profiling", total=run.block_sessions())
                run.measure_blocks(lambda _: bar.advance(task), lambda r, p: bar.update(task, description=f"r={r} {p}"))
        else:
            run.measure_blocks()
        total = run.incontext_sessions()
        if total:
            with progress_bar(out=bars) as bar:
                task = bar.add_task("in context", total=total)
                run.measure_incontext(lambda _: bar.advance(task),
                                      lambda r, p: bar.update(task, description=f"r={r} {p}"))
    except KeyboardInterrupt:
        fail(run.interrupted(), code=130)
    table, info = run.finish()
    if as_json:
        print_json(info)
        return
    _print_profile(run, table, info)
    next_step(next_after_profile(table))


def _print_profile_header(run) -> None:
    info = run.backend.info()
    console.print(f"table   {run.folder}  [dim]({run.plan.done} rows already there)[/]")
    console.print(f"space   {run.spec.describe()}")
    console.print(f"device  {run.desc.name}: {info['runtime']} {info['runtime_version']}, "
                  f"{info['threads']} thread(s), {info['host_cpu']}")
    if info.get("note"):
        console.print(f"[dim]{info['note']}[/]")


def _print_profile(run, table, info: dict) -> None:
    console.print(f"[green]done[/]: {info['written']} rows measured in {info['seconds']} s; table has {len(table)} "
                  f"rows, resolutions {', '.join(map(str, table.resolutions))}")
    console.print(f"rows by method: {', '.join(f'{k} {v}' for k, v in info['methods'].items())}"
                  + (f" ({run.subnets} whole subnets per resolution)" if run.method != "isolated" else ""))
    for r, rec in (table.metadata.get("incontext") or {}).get("resolutions", {}).items():
        if "residual_mape" in rec:
            console.print(f"  r={r}: {rec['rows_fitted']} rows fitted to {rec['subnets']} subnets, residual MAPE "
                          f"{rec['residual_mape']:.1f} %, in context x{rec['scale']:.3f} of the isolated blocks")
    if info["incomplete"]:
        console.print(f"[yellow]incomplete resolutions[/]: {info['incomplete']}")
    if line := run.coverage_note(table):
        console.print(f"[dim]{line}[/]", highlight=False)


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
    accept_new_host_key: bool = opt.host_key("ssh devices: record an unknown host key on first use."),
    serial: str | None = opt.serial("adb devices: the phone's serial from `adb devices`."),
    benchmark_binary: opt.BenchmarkBinary = None,
    as_json: opt.JsonShort = False,
) -> None:
    """Time random subnets whole and compare them with the table's prediction (MAPE, ±10 %, Kendall tau)."""
    from ..devices.validating import ValidateOptions, ValidationRun

    run = ValidationRun(ValidateOptions(
        device, table_path, samples, calibrate, holdout, resolutions, width, classes, in_channels, supernet, sessions,
        seed, out, opt.remote_args(host, accept_new_host_key, serial, benchmark_binary)))
    if warning := run.runtime_warning():
        console.print(f"[yellow]warning[/]: {warning}")
    with progress_bar(out=err_console if as_json else console) as bar:
        exp = bar.add_task("exporting subnets", total=samples)
        task = bar.add_task("timing subnets", total=samples * run.proto.sessions)
        result = run.run(on_session=lambda _: bar.advance(task), on_export=lambda _: bar.advance(exp))
    if as_json:
        print_json({k: v for k, v in result.items() if k not in ("archs",)})
        return
    _print_validation(result, run.table.device, samples, calibrate, run.folder)


def _print_validation(result: dict, device: str, samples: int, calibrate: bool, folder: Path) -> None:
    from ..verdicts import latency_verdict

    t = rich_table(f"{device}: {samples} random subnets, r {', '.join(map(str, result['resolutions']))}",
                   ("prediction", "subnets", "MAPE %", "RMSPE %", "±5 %", "±10 %", "p95 |err| %",
                    "Kendall tau", "measured/predicted"))
    rows = [("raw block sum, all", result["raw_all"])]
    if calibrate:
        rows += [("raw, held out", result["raw_heldout"]), ("calibrated, held out", result["calibrated_heldout"])]
    elif "calibrated_all" in result:
        rows.append(("stored calibration, all", result["calibrated_all"]))
    for name, m in rows:
        t.add_row(name, str(m["n"]), f"{m['mape']:.1f}", f"{m['rmspe']:.1f}", f"{m['within_5']:.0f}",
                  f"{m['within_10']:.0f}", f"{m['p95_ape']:.1f}", f"{m['kendall_tau']:.3f}",
                  f"{m['measured_over_predicted']:.3f}")
    console.print(t)
    record = result["validation"]
    console.print(latency_verdict(record["heldout"], record["ratio_band"]).line(), highlight=False)
    if calibrate:
        c = result["calibration"]
        console.print(f"calibration  ms = {c['a']:.4f} * sum + {c['b']:.4f}  (stored in {folder / 'meta.yaml'})")
    lo, hi = record["ratio_band"]
    console.print(f"validated    measured/predicted {lo:.3f}..{hi:.3f} (5th-95th percentile, held out; stored in "
                  f"{folder / 'meta.yaml'})")
    console.print(f"files        {', '.join(result['files'])}")


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
    from ..space import load_subnet

    sub = load_subnet(subnet)
    table = find_table(device, table_path, sub.spec)
    ms = table.predict_arch(sub.arch, calibrated=not raw)
    layers = table.arch_breakdown(sub.arch)
    if as_json:
        print_json({"device": table.device, "ms": ms, "calibrated": not raw and table.calibration is not None,
                    "layers": layers if breakdown else None})
        return
    if breakdown:
        t = rich_table(f"{subnet} on {table.device}", ("layer", "ms"))
        for k, v in layers:
            t.add_row(k, f"{v:.3f}")
        console.print(t)
    cal = " (calibrated)" if not raw and table.calibration is not None else ""
    console.print(f"{ms:.2f} ms{cal} on {table.device}")


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
    spec = space_from_options(width, classes, in_channels, None)
    checks.integer(resolution, "--resolution", 8, checks.MAX_RESOLUTION, optional=True)
    table = find_table(device, table_path, spec)
    info = table.summary()
    meta = {k: v for k, v in table.metadata.items() if k not in ("spec", "backend_info", "device_descriptor")}
    if as_json:
        rows = [r.__dict__ for r in table.rows if resolution is None or r.resolution == resolution]
        print_json({**info, "metadata": meta, "rows": rows if resolution is not None else None})
        return
    console.print(f"device       {info['device']}")
    console.print(f"space        {info['space']}")
    console.print(f"rows         {info['rows']}, predictions use the {info['stat']}")
    console.print(f"made by      {', '.join(f'{k} {v}' for k, v in info['methods'].items())} (rows per method)")
    console.print(f"resolutions  {info['resolutions']}")
    if info["incomplete"]:
        console.print(f"[yellow]incomplete[/]   {info['incomplete']} (missing keys per resolution)")
    for k in ("backend", "runtime", "runtime_version", "threads", "precision", "host_cpu", "date_started",
              "date_updated", "source"):
        if meta.get(k) is not None:
            console.print(f"{k:<12} {meta[k]}")
    cal = table.calibration
    fit = "none" if cal is None else f"ms = {cal['a']:.4f} * sum + {cal['b']:.4f}"
    console.print(f"calibration  {fit}")
    _print_stored_validation(table.metadata.get("validation"))
    if resolution is not None:
        t = rich_table(f"rows at r={resolution}",
                       ("key", "count", "mean", "median", "p10", "p90", "method", "subnets"))
        for r in table.rows:
            if r.resolution == resolution:
                t.add_row(r.key, str(r.count), *(f"{getattr(r, s):.4f}" for s in ("mean", "median", "p10", "p90")),
                          r.method, str(r.samples))
        console.print(t)


def _print_stored_validation(val: dict | None) -> None:
    """`lut show`'s lines on the table's stored validation record."""
    from ..verdicts import latency_verdict

    if not val:
        console.print("validation   none (run `ofa-deploy latency validate`)")
        return
    h = val["heldout"]
    tau = "n/a" if h.get("kendall_tau") is None else f"{h['kendall_tau']:.3f}"
    console.print(f"validation   {val['date']}: {h['n']} held-out subnets, MAPE {h['mape']:.1f} %, RMSPE "
                  f"{h['rmspe']:.1f} %, within ±5 % {h['within_5']:.0f} %, ±10 % {h['within_10']:.0f} %, "
                  f"p95 {h['p95_ape']:.1f} %, tau {tau}")
    console.print(f"band         measured/predicted {val['ratio_band'][0]:.3f}..{val['ratio_band'][1]:.3f}")
    console.print(latency_verdict(h, val.get("ratio_band")).line(), highlight=False)


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
    if as_json:
        print_json({**table.summary(), "folder": str(folder), "descriptor_written": str(written) if written else None})
        return
    console.print(f"imported {len(table)} rows at resolutions {list(table.resolutions)} into {folder}")
    if written:
        console.print(f"device {device} had no descriptor: wrote {written} (connection: none, known by this table "
                      "only; give it a connection there to measure on it)")


@lut_app.command("export")
def lut_export(
    table_path: Path = typer.Argument(..., help="Table folder."),
    out: Path = opt.out("Folder for the <r>_lookup_table.yaml files.", required=True),
    stat: OfficialStat = Opt(OfficialStat("mean"), "--stat", help="Statistic written as 'mean'."),
    force: opt.ForceFolder = False,
    as_json: opt.JsonShort = False,
) -> None:
    """Export a table to the official per-resolution YAML format."""
    from ..latency import export_official
    from ..outputs import check_output

    check_output(out, "official-tables", force)
    written = export_official(find_table(None, table_path, None), out, value(stat))
    if as_json:
        print_json({"folder": str(out), "files": [str(p) for p in written], "stat": value(stat)})
        return
    console.print(f"wrote {len(written)} files: {', '.join(p.name for p in written)} in {out}")


@lut_app.command("repair")
def lut_repair(
    table_path: Path = typer.Argument(..., help="Table folder whose table.csv repeats keys."),
    as_json: opt.Json = False,
) -> None:
    """Drop repeated rows of a table (two profiles wrote it at once): every unique row is kept."""
    from ..latency.repair import repair_table

    r = repair_table(table_path)
    conflicts = [{"key": a.key, "resolution": a.resolution, "kept_mean": a.mean, "dropped_mean": b.mean}
                 for a, b in r.conflicts]
    if not print_repair(r, conflicts, as_json, "no duplicates"):
        return
    console.print(f"{r.folder}: kept {r.kept} unique rows; dropped {r.identical} identical duplicate(s)"
                  + (f" and {len(r.conflicts)} conflicting one(s) (the first measurement of each key is kept)"
                     if r.conflicts else ""))
    for first, later in r.conflicts[:10]:
        console.print(f"  [yellow]conflict[/] {first.key} r={first.resolution}: kept mean {first.mean:.4f} ms, "
                      f"dropped {later.mean:.4f} ms")
