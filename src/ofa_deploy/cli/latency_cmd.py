"""`ofa-deploy profile`, `ofa-deploy latency validate|predict` and `ofa-deploy lut show|import|export|repair`.

Thin: parse options, call `ofa_deploy.latency` / `ofa_deploy.devices`, render with rich. `lut`
commands never import torch; `profile` and `validate` import it inside their functions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .. import checks
from ..space import SpaceSpec, parse_resolutions
from .choices import OfficialStat, ProfileMethod, ProfileStat, SpaceKindChoice
from .common import console, device_by_name, err_console, fail, next_step, print_json, progress_bar, value

latency_app = typer.Typer(help="Check latency predictions against end-to-end measurements.", no_args_is_help=True)
lut_app = typer.Typer(help="Inspect, import and export latency lookup tables.", no_args_is_help=True)

WIDTH_HELP = "Width multiplier of the space (1.0, 1.2, 0.5...)."
CLASSES_HELP = "Number of classes of the space."
IN_CHANNELS_HELP = "Input channels of the space (1 for grey images)."
KIND_HELP = ("Kind of space: ofa_mbv3 (OFA MobileNetV3), ofa_proxyless (OFA ProxylessNAS) or ofa_resnet50 (OFA "
             "ResNet50; give its --supernet, the widths come from the checkpoint).")


def register(app: typer.Typer) -> None:
    app.command("profile")(profile)
    app.add_typer(latency_app, name="latency")
    app.add_typer(lut_app, name="lut")


# ---- helpers --------------------------------------------------------------------------------------
def space_from_options(width: float | None, classes: int | None, in_channels: int | None,
                       supernet: Path | None, kind: str | None = None) -> SpaceSpec | None:
    checks.space_options(width, classes, in_channels)
    if supernet is not None:
        from ..space.checkpoint import checkpoint_space

        return checkpoint_space(supernet)
    if width is None and classes is None and in_channels is None and kind is None:
        return None
    return SpaceSpec(width_mult=width if width is not None else 1.0,
                     n_classes=classes if classes is not None else 1000,
                     in_channels=in_channels if in_channels is not None else 3,
                     kind=kind if kind is not None else "ofa_mbv3")


def find_table(device: str | None, table: Path | None, spec: SpaceSpec | None):
    from ..latency.resolve import resolve_table

    # --device defaults to cpu here: with --table it would mislabel official YAML tables.
    return resolve_table(device if table is None else None, table, spec).table


def _build_net(spec: SpaceSpec, supernet: Path | None, seed: int = 0):
    import torch

    from ..nn import OFASupernet, load_supernet

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # exporting only; more threads fight the measurements and other jobs
    net = load_supernet(supernet) if supernet is not None else OFASupernet(spec)
    return net.eval()


def _protocol(sessions: int, max_runs: int, seed: int):
    from ..latency.protocol import Protocol

    sessions, max_runs, seed = checks.protocol_options(sessions, max_runs, seed)
    try:
        return Protocol.for_runs(sessions, max_runs, seed)
    except ValueError as e:
        fail(str(e))


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        fail(f"{option} takes integers separated by commas (3,6), got {text!r}")
    if not values:
        fail(f"{option} is empty; give integers separated by commas (3,6)")
    return values


# ---- profile ----------------------------------------------------------------------------------------
def profile(
    device: Annotated[str, typer.Option(
        "--device", "-d", help="Device name (devices/NAME.yaml) or descriptor path.", callback=device_by_name)] = "cpu",
    resolutions: Annotated[str | None, typer.Option(
        "--resolutions", "-r", help="160,224 | 128..224 | 128..224:16 | all (default: the largest).")] = None,
    width: Annotated[float | None, typer.Option(
        "--width", help=WIDTH_HELP + " Give a space (with --classes, --in-channels) to profile it with random "
        "weights.")] = None,
    classes: Annotated[int | None, typer.Option("--classes", help=CLASSES_HELP + " [default: 1000]")] = None,
    in_channels: Annotated[int | None, typer.Option(
        "--in-channels", help=IN_CHANNELS_HELP + " [default: 3]")] = None,
    kind: Annotated[SpaceKindChoice | None, typer.Option("--kind", help=KIND_HELP + " [default: ofa_mbv3]")] = None,
    supernet: Annotated[Path | None, typer.Option(
        "--supernet", "-s", help="Checkpoint: its space and weights are used (default, when no space is given: "
        "the shipped demo supernet).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Table folder (default: DEVICE/SPACE in your tables folder, $OFA_DEPLOY_TABLES or "
                            "~/.local/share/ofa-deploy/latency_tables).")] = None,
    runtime: Annotated[str | None, typer.Option(
        "--runtime", help="Override the descriptor's runtime (torch...).")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", help="Override the descriptor's thread count.")] = None,
    sessions: Annotated[int, typer.Option(
        "--sessions", help="Fresh sessions per entry (samples pooled).")] = 3,
    max_runs: Annotated[int, typer.Option("--max-runs", help="Cap of timed runs per session.")] = 200,
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed of the interleaving order and of the random weights.")] = 0,
    stat: Annotated[ProfileStat | None, typer.Option(
        "--stat", help="Statistic predictions use: median (default) or p10 (a CPU shared with other jobs).")] = None,
    method: Annotated[ProfileMethod | None, typer.Option(
        "--method", help="How rows are made: isolated (each block timed alone), fit (then fitted to random whole "
        "subnets timed end to end; the default), profiler (onnxruntime's per-node profile of whole subnets, "
        "local onnxruntime only). Remote devices (ssh, adb) time the fit's subnets in the blocks' bundle.")] = None,
    subnets: Annotated[int | None, typer.Option(
        "--subnets", help="Whole subnets timed per resolution by --method fit / profiler (default 150 / 15; "
        "fit on ssh / adb devices: 4).")] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Discard an existing table in the folder instead of resuming.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Write into an --out folder that holds another kind of output.")] = False,
    host: Annotated[str | None, typer.Option(
        "--host", help="ssh devices: user@host[:port] or a ~/.ssh/config alias (overrides the descriptor).")] = None,
    accept_new_host_key: Annotated[bool, typer.Option(
        "--accept-new-host-key", help="ssh devices: record an unknown host key on first use (a changed key is "
        "still refused).")] = False,
    serial: Annotated[str | None, typer.Option(
        "--serial", help="adb devices: the phone's serial from `adb devices` (default: the only one attached).")] = None,
    benchmark_binary: Annotated[Path | None, typer.Option(
        "--benchmark-binary", help="adb devices: TFLite's benchmark_model built for the phone.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Measure the latency table of a space on a device; resumes where a previous run stopped."""
    from ..devices import load_device
    from ..devices.local import make_backend
    from ..flow import next_after_profile
    from ..latency import LatencyTable, default_table_dir, incontext
    from ..latency.profiler import plan_profile, run_profile
    from ..records import remember_profile

    if supernet is None and width is None and classes is None and in_channels is None and kind is None:
        from ..nn.shipped import shipped_supernet_path

        supernet = shipped_supernet_path()
    spec = space_from_options(width, classes, in_channels, supernet, value(kind))
    assert spec is not None
    rs = parse_resolutions(resolutions, spec)
    desc = load_device(device)
    backend = make_backend(desc, runtime, threads, host=host, accept_new_host_key=accept_new_host_key,
                           serial=serial, benchmark_binary=str(benchmark_binary) if benchmark_binary else None)
    proto = _protocol(sessions, max_runs, seed)
    how = incontext.choose_method(backend, value(method))
    n_ctx = checks.count(incontext.default_subnets(how, backend) if subnets is None else subnets, "--subnets",
                         checks.MAX_SUBNETS, 1)
    folder = out or default_table_dir(desc.name, spec)
    incontext.check_method(folder, how, fresh)
    extra = {"device_descriptor": desc.to_dict(), "supernet": str(supernet) if supernet else "random init",
             "load_avg_at_start": list(_loadavg())}
    plan = plan_profile(spec, desc.name, backend.info(), rs, folder, proto, desc.precision, fresh, extra,
                        value(stat), force)
    if not as_json:
        console.print(f"table   {plan.folder}  [dim]({plan.done} rows already there)[/]")
        console.print(f"space   {spec.describe()}")
        console.print(f"device  {desc.name}: {backend.info()['runtime']} {backend.info()['runtime_version']}, "
                      f"{backend.info()['threads']} thread(s), {backend.info()['host_cpu']}")
        if backend.info().get("note"):
            console.print(f"[dim]{backend.info()['note']}[/]")
    t0 = time.perf_counter()
    written = 0
    net = None
    if plan.n_todo:
        net = _build_net(spec, supernet, seed)
        try:
            with progress_bar(out=err_console if as_json else console) as bar:
                fit = incontext.FitRequest(n_ctx, seed) if how == "fit" else None  # remote: in the blocks' bundle
                task = bar.add_task("profiling", total=plan.n_todo * proto.sessions
                                    + incontext.bundled_fit_sessions(plan, backend, fit, proto))

                def on_res(r: int, phase: str) -> None:
                    bar.update(task, description=f"r={r} {phase}")

                written = run_profile(plan, spec, net, backend, proto,
                                      on_session=lambda _: bar.advance(task), on_resolution=on_res, fit=fit)
        except KeyboardInterrupt:
            from ..latency.table import read_rows

            kept = len(read_rows(plan.folder / "table.csv", torn="skip"))
            fail(f"interrupted: {kept} rows kept in {plan.folder}; rerun the same command to resume", code=130)
    elif plan.lock is not None:
        plan.lock.release()  # nothing to measure alone; the in-context stage takes the lock itself
    t_isolated = time.perf_counter() - t0
    total = incontext.stage_sessions(LatencyTable.load(plan.folder), how, n_ctx, proto)
    if total:
        net = net if net is not None else _build_net(spec, supernet, seed)
        try:
            with progress_bar(out=err_console if as_json else console) as bar:
                task = bar.add_task("in context", total=total)
                incontext.run_incontext(plan.folder, net, backend, proto, how, n_ctx, seed=seed,
                                        on_session=lambda _: bar.advance(task),
                                        on_resolution=lambda r, p: bar.update(task, description=f"r={r} {p}"))
        except KeyboardInterrupt:
            fail(f"interrupted: the resolutions done in context are kept in {plan.folder}, and the whole subnets "
                 "already timed for the next one; rerun the same command to resume", code=130)
    table = LatencyTable.load(plan.folder)
    remember_profile(desc.name, plan.folder, spec.to_dict(),  # `search`'s default device and table
                     {"host": host, "serial": serial,
                      "benchmark_binary": str(benchmark_binary.resolve()) if benchmark_binary else None})
    info = {**table.summary(), "folder": str(plan.folder), "written": written,
            "seconds": round(time.perf_counter() - t0, 1), "isolated_seconds": round(t_isolated, 1)}
    if as_json:
        print_json(info)
        return
    console.print(f"[green]done[/]: {written} rows measured in {info['seconds']} s; table has {len(table)} rows, "
                  f"resolutions {', '.join(map(str, table.resolutions))}")
    console.print(f"rows by method: {', '.join(f'{k} {v}' for k, v in info['methods'].items())}"
                  + (f" ({n_ctx} whole subnets per resolution)" if how != "isolated" else ""))
    for r, rec in (table.metadata.get("incontext") or {}).get("resolutions", {}).items():
        if "residual_mape" in rec:
            console.print(f"  r={r}: {rec['rows_fitted']} rows fitted to {rec['subnets']} subnets, residual MAPE "
                          f"{rec['residual_mape']:.1f} %, in context x{rec['scale']:.3f} of the isolated blocks")
    if info["incomplete"]:
        console.print(f"[yellow]incomplete resolutions[/]: {info['incomplete']}")
    from ..space.spec import _range_text

    if len(table.resolutions) < len(spec.resolutions):
        console.print(f"[dim]note: the table covers r {_range_text(tuple(table.resolutions))} of the space's r "
                      f"{_range_text(tuple(spec.resolutions))}; searches with it consider only those (add the "
                      "others with --resolutions all)[/]", highlight=False)
    next_step(next_after_profile(table))


def _loadavg() -> tuple[float, ...]:
    import os

    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()


# ---- latency validate / predict -----------------------------------------------------------------
@latency_app.command("validate")
def validate_cmd(
    device: Annotated[str | None, typer.Option(
        "--device", "-d", help="Device whose table is checked [default: the --table's own device, else cpu].",
        callback=device_by_name)] = None,
    table_path: Annotated[Path | None, typer.Option(
        "--table", "-t", help="Table folder (default: the device's).")] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", help="Random subnets timed end to end.")] = 50,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate", help="Fit ms = a*sum + b on half of the subnets, report held-out errors, store the fit with the table "
        "(a shipped table: in a calibrated copy among the user's tables).")] = False,
    holdout: Annotated[float, typer.Option(
        "--holdout", help="With --calibrate: share of the subnets held out of the fit and reported "
        "(strictly between 0 and 1).")] = 0.5,
    resolutions: Annotated[str | None, typer.Option(
        "--resolutions", "-r", help="Resolutions to sample (default: the table's complete ones).")] = None,
    width: Annotated[float | None, typer.Option("--width", help=WIDTH_HELP)] = None,
    classes: Annotated[int | None, typer.Option("--classes", help=CLASSES_HELP)] = None,
    in_channels: Annotated[int | None, typer.Option("--in-channels", help=IN_CHANNELS_HELP)] = None,
    supernet: Annotated[Path | None, typer.Option(
        "--supernet", "-s", help="Checkpoint (default: random weights).")] = None,
    sessions: Annotated[int, typer.Option(
        "--sessions", help="Fresh sessions per subnet (samples pooled).")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampled subnets.")] = 0,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for validation.csv/.png (default: the table's; a shipped table's go to "
        "the user's tables folder).")] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="ssh devices: user@host[:port] or a ~/.ssh/config alias (overrides the descriptor).")] = None,
    accept_new_host_key: Annotated[bool, typer.Option(
        "--accept-new-host-key", help="ssh devices: record an unknown host key on first use.")] = False,
    serial: Annotated[str | None, typer.Option(
        "--serial", help="adb devices: the phone's serial from `adb devices`.")] = None,
    benchmark_binary: Annotated[Path | None, typer.Option(
        "--benchmark-binary", help="adb devices: TFLite's benchmark_model built for the phone.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Time random subnets whole and compare them with the table's prediction (MAPE, ±10 %, Kendall tau)."""
    from ..devices import load_device
    from ..devices.local import make_backend
    from ..fsio import ensure_writable, writer_lock
    from ..latency.resolve import resolve_table, save_calibration, save_validation_record
    from ..latency.table import store_metadata
    from ..latency.validation import (
        check_split,
        save_validation,
        validate,
        validation_device,
        validation_record,
    )

    checks.count(samples, "--samples", checks.MAX_SUBNETS, 4 if calibrate else 2)
    fit_fraction = 1 - check_split(samples, holdout) if calibrate else 0.5  # before anything is read or written
    spec = space_from_options(width, classes, in_channels, supernet)
    found = resolve_table((device or "cpu") if table_path is None else None, table_path, spec)
    table, folder = found.table, found.writable_folder()  # a shipped table's changes go to the user's folder
    desc = load_device((device or "cpu") if table_path is None else validation_device(device, table.device))
    rs = parse_resolutions(resolutions, table.spec) if resolutions is not None else None
    _lock = writer_lock(folder, "latency table")  # one writer, held to the end (metrics are stored)
    ensure_writable(out or folder)
    md = table.metadata
    backend = make_backend(desc, md.get("runtime") if md.get("runtime") != "official" else None, md.get("threads"),
                           host=host, accept_new_host_key=accept_new_host_key, serial=serial,
                           benchmark_binary=str(benchmark_binary) if benchmark_binary else None)
    bi = backend.info()
    if md.get("runtime_version") and bi.get("runtime_version") != md.get("runtime_version"):
        console.print(f"[yellow]warning[/]: table measured with {md.get('runtime')} {md.get('runtime_version')}, "
                      f"validating with {bi.get('runtime_version')}")
    proto = _protocol(sessions, int(md.get("protocol", {}).get("max_runs", 200)), seed)
    net = _build_net(table.spec, supernet, seed)
    with progress_bar(out=err_console if as_json else console) as bar:
        exp = bar.add_task("exporting subnets", total=samples)
        task = bar.add_task("timing subnets", total=samples * proto.sessions)
        result = validate(table, net, backend, samples, proto, rs, seed, calibrate, fit_fraction,
                          on_session=lambda _: bar.advance(task), on_export=lambda _: bar.advance(exp))
    record = validation_record(result, time.strftime("%Y-%m-%dT%H:%M:%S"))
    if calibrate:
        folder = save_calibration(found, result["calibration"])
        store_metadata(folder, validation=record)
    else:
        folder = save_validation_record(found, record)
    result["validation"] = record
    files = save_validation(result, out or folder)
    result["files"] = [str(f) for f in files]
    if as_json:
        print_json({k: v for k, v in result.items() if k not in ("archs",)})
        return
    t = Table(title=f"{table.device}: {samples} random subnets, r {', '.join(map(str, result['resolutions']))}",
              title_justify="left")
    for col in ("prediction", "subnets", "MAPE %", "RMSPE %", "±5 %", "±10 %", "p95 |err| %", "Kendall tau",
                "measured/predicted"):
        t.add_column(col, justify="left" if col == "prediction" else "right")
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
    from ..verdicts import latency_verdict

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
    subnet: Annotated[Path, typer.Argument(help="Subnet file (any supported format).")],
    device: Annotated[str | None, typer.Option("--device", "-d", help="Device whose table is used.", callback=device_by_name)] = "cpu",
    table_path: Annotated[Path | None, typer.Option("--table", "-t", help="Table folder.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Block sum without the stored calibration.")] = False,
    breakdown: Annotated[bool, typer.Option("--breakdown", help="Per-layer table.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
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
        t = Table(title=f"{subnet} on {table.device}", title_justify="left")
        t.add_column("layer")
        t.add_column("ms", justify="right")
        for k, v in layers:
            t.add_row(k, f"{v:.3f}")
        console.print(t)
    cal = " (calibrated)" if not raw and table.calibration is not None else ""
    console.print(f"{ms:.2f} ms{cal} on {table.device}")


# ---- lut ------------------------------------------------------------------------------------------
@lut_app.command("show")
def lut_show(
    table_path: Annotated[Path | None, typer.Argument(help="Table folder (or give --device).")] = None,
    device: Annotated[str | None, typer.Option(
        "--device", "-d", help="Device name: the user's table, else the shipped one.", callback=device_by_name)] = None,
    width: Annotated[float | None, typer.Option("--width", help=WIDTH_HELP)] = None,
    classes: Annotated[int | None, typer.Option("--classes", help=CLASSES_HELP)] = None,
    in_channels: Annotated[int | None, typer.Option("--in-channels", help=IN_CHANNELS_HELP)] = None,
    resolution: Annotated[int | None, typer.Option(
        "--resolution", "-r", help="List the rows of this resolution.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
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
    val = table.metadata.get("validation")
    if val:
        h = val["heldout"]
        tau = "n/a" if h.get("kendall_tau") is None else f"{h['kendall_tau']:.3f}"
        console.print(f"validation   {val['date']}: {h['n']} held-out subnets, MAPE {h['mape']:.1f} %, RMSPE "
                      f"{h['rmspe']:.1f} %, within ±5 % {h['within_5']:.0f} %, ±10 % {h['within_10']:.0f} %, "
                      f"p95 {h['p95_ape']:.1f} %, tau {tau}")
        console.print(f"band         measured/predicted {val['ratio_band'][0]:.3f}..{val['ratio_band'][1]:.3f}")
        from ..verdicts import latency_verdict

        console.print(latency_verdict(h, val.get("ratio_band")).line(), highlight=False)
    else:
        console.print("validation   none (run `ofa-deploy latency validate`)")
    if resolution is not None:
        t = Table(title=f"rows at r={resolution}", title_justify="left")
        for col in ("key", "count", "mean", "median", "p10", "p90", "method", "subnets"):
            t.add_column(col, justify="left" if col == "key" else "right")
        for r in table.rows:
            if r.resolution == resolution:
                t.add_row(r.key, str(r.count), *(f"{getattr(r, s):.4f}" for s in ("mean", "median", "p10", "p90")),
                          r.method, str(r.samples))
        console.print(t)


@lut_app.command("import")
def lut_import(
    files: Annotated[list[Path], typer.Argument(
        help="Official <r>_lookup_table.yaml files (or a folder of them).")],
    device: Annotated[str, typer.Option(
        "--device", "-d", help="Name of the device they were measured on (note10).")],
    width: Annotated[float | None, typer.Option(
        "--width", help=WIDTH_HELP + " Default: the kind's released one (MobileNetV3 w1.2, the Note10 tables'; "
        "ProxylessNAS w1.3; ProxylessNAS's mobile_trim.yaml is w1.0).")] = None,
    classes: Annotated[int, typer.Option("--classes", help=CLASSES_HELP)] = 1000,
    in_channels: Annotated[int, typer.Option("--in-channels", help=IN_CHANNELS_HELP)] = 3,
    kind: Annotated[SpaceKindChoice, typer.Option("--kind", help=KIND_HELP)] = "ofa_mbv3",  # type: ignore[assignment]
    expands: Annotated[str | None, typer.Option(
        "--expands", help="Expand ratios of the space, e.g. 3,6 (ProxylessNAS's mobile_trim.yaml has no 4) "
        "[default: 3,4,6].")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Table folder (default: the user's tables folder, DEVICE/SPACE).")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Write into an --out folder that holds another kind of output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Import the official per-resolution YAML lookup tables as one of our tables."""
    from ..devices.descriptor import DeviceDescriptor, table_only_descriptor
    from ..fsio import check_output
    from ..latency import default_table_dir, import_official

    paths: list[Path] = []
    for f in files:
        paths += sorted(f.glob("*_lookup_table.yaml")) if f.is_dir() else [f]
    if not paths:
        fail("no *_lookup_table.yaml files given")
    checks.space_options(width, classes, in_channels)
    from ..space import official_table_space

    spec = official_table_space(width, classes, in_channels, value(kind),
                                _int_list(expands, "--expands") if expands is not None else None)
    folder = check_output(out or default_table_dir(device, spec), "table", force)  # before any file is read
    DeviceDescriptor(name=device, connection="none")  # a name a descriptor cannot take: refused now
    table = import_official(paths, spec, device)
    folder = table.save(folder)
    written = table_only_descriptor(device, f"imported by `ofa-deploy lut import` into {folder}")
    if as_json:
        print_json({**table.summary(), "folder": str(folder), "descriptor_written": str(written) if written else None})
        return
    console.print(f"imported {len(table)} rows at resolutions {list(table.resolutions)} into {folder}")
    if written:
        console.print(f"device {device} had no descriptor: wrote {written} (connection: none, known by this table "
                      "only; give it a connection there to measure on it)")


@lut_app.command("export")
def lut_export(
    table_path: Annotated[Path, typer.Argument(help="Table folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the <r>_lookup_table.yaml files.")],
    stat: Annotated[OfficialStat, typer.Option(
        "--stat", help="Statistic written as 'mean'.")] = OfficialStat("mean"),
    force: Annotated[bool, typer.Option(
        "--force", help="Write into an --out folder that holds another kind of output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Export a table to the official per-resolution YAML format."""
    from ..fsio import check_output
    from ..latency import export_official

    check_output(out, "official-tables", force)
    written = export_official(find_table(None, table_path, None), out, value(stat))
    if as_json:
        print_json({"folder": str(out), "files": [str(p) for p in written], "stat": value(stat)})
        return
    console.print(f"wrote {len(written)} files: {', '.join(p.name for p in written)} in {out}")


@lut_app.command("repair")
def lut_repair(
    table_path: Annotated[Path, typer.Argument(help="Table folder whose table.csv repeats keys.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (strict JSON on stdout).")] = False,
) -> None:
    """Drop repeated rows of a table (two profiles wrote it at once): every unique row is kept."""
    from rich.markup import escape

    from ..latency.repair import repair_table
    from ..rowfile import describe_tail

    r = repair_table(table_path)
    if as_json:
        print_json({"folder": str(r.folder), "kept": r.kept, "identical": r.identical,
                    "conflicts": [{"key": a.key, "resolution": a.resolution, "kept_mean": a.mean,
                                   "dropped_mean": b.mean} for a, b in r.conflicts],
                    "torn_tail": r.torn.decode("utf-8", errors="replace")})
        return
    if r.torn:
        console.print(escape(f"{r.folder}: dropped a half-written last row: {describe_tail(r.torn)}"))
    if not (r.identical or r.conflicts):
        if r.torn:
            return
        console.print(f"{r.folder}: {r.kept} rows, no duplicates; nothing to repair")
        return
    console.print(f"{r.folder}: kept {r.kept} unique rows; dropped {r.identical} identical duplicate(s)"
                  + (f" and {len(r.conflicts)} conflicting one(s) (the first measurement of each key is kept)"
                     if r.conflicts else ""))
    for first, later in r.conflicts[:10]:
        console.print(f"  [yellow]conflict[/] {first.key} r={first.resolution}: kept mean {first.mean:.4f} ms, "
                      f"dropped {later.mean:.4f} ms")
