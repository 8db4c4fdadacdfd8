"""`ofa-deploy export` and `ofa-deploy benchmark`: thin wrappers over `ofa_deploy.export`.

Progress goes to a console on a duplicate of stderr's descriptor: while a converter runs, the
library redirects descriptors 1 and 2 to a log (`runtime.quiet`), and the spinner must still
reach the terminal. A missed tolerance exits with code 1 (bad input: 2, as everywhere).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .. import checks
from .choices import ExportFormat
from .common import (
    console,
    device_option,
    err_console,
    fail,
    json_option,
    merge_alias,
    next_step,
    note,
    out_option,
    print_json,
    supernet_option,
    table_option,
    value,
)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("benchmark")(benchmark)


@contextmanager
def steps() -> Iterator[Callable[[str], None]]:
    """A spinner naming the current step; each finished step is printed with its duration.
    Yields the callback the library calls at the start of every step."""
    with os.fdopen(os.dup(2), "w") as stream:
        out = Console(file=stream, highlight=False)
        current: str | None = None
        started = time.perf_counter()

        def finish() -> None:
            if current is not None:
                out.print(f"[green]✓[/] {current} [dim]({time.perf_counter() - started:.1f} s)[/]")

        with out.status("starting") as status:

            def step(name: str) -> None:
                nonlocal current, started
                finish()
                current, started = name, time.perf_counter()
                status.update(f"{name}...")

            yield step
            finish()


# ---- export ---------------------------------------------------------------------------------------
def export(
    fmt: ExportFormat = typer.Option(..., "--format", "-f", help="File format."),
    subnet: Path | None = typer.Option(None, "--subnet",
                                       help="Subnet file (any supported format); default: the last search's."),
    int8: bool = typer.Option(False, "--int8", help="TFLite full-integer int8, calibrated on validation images."),
    dynamic_range: bool = typer.Option(False, "--dynamic-range",
                                       help="TFLite int8 weights with float activations (smaller, not faster)."),
    supernet: Path | None = supernet_option("Supernet (ours or official); default: the one the subnet was "
                                            "searched for, else the shipped demo supernet."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", "-c", hidden=True,
                                           help="Old name of --supernet (kept for one release)."),
    out: Path | None = out_option("Output file or folder; default: <subnet name>[.int8|.drq].<format> here."),
    no_recalibrate: bool = typer.Option(False, "--no-recalibrate",
                                        help="Keep the supernet's BN statistics instead of recalibrating them."),
    data: Path | None = typer.Option(None, "--data", help="Dataset folder (Fashion-MNIST idx files or ImageNet-style "
                                                          "train/<class>/); default: the supernet recipe's dataset."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="ONNX with a dynamic batch dimension."),
    verify_images: int | None = typer.Option(None, "--verify-images",
                                             help="Test images the file is verified on. [default: 1000]"),
    verify_images_old: int | None = typer.Option(None, "-n", hidden=True,
                                                 help="Old short name of --verify-images (kept for one release)."),
    force: bool = typer.Option(False, "--force", help="Replace an --out file of another kind."),
    bn_images: int | None = typer.Option(None, "--bn-images", help="BN calibration images (default: the recipe's, "
                                                                   "else 2000, upstream's sub_train_loader)."),
    bn_batch: int = typer.Option(200, "--bn-batch", help="Batch size of BN calibration."),
    bn_transform: str | None = typer.Option(None, "--bn-transform",
                                            help="train (upstream: augmented, seeded) or eval (deterministic); "
                                                 "default: train for an ImageNet folder, eval for arrays."),
    workers: int | None = typer.Option(None, "--workers", help="Image-reading processes for a folder."),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images",
                                         help="Skip unreadable images (counted in the report) instead of stopping."),
    threads: int | None = typer.Option(None, "--threads", help="torch intra-op threads for BN recalibration and the "
                                                               "PyTorch side of verification (default: torch's)."),
    over_budget: bool = typer.Option(False, "--over-budget", help="Export a subnet that `search --verify` measured "
                                     "over its budget (refused otherwise; the report says so)."),
    as_json: bool = json_option("Print the report as JSON."),
) -> None:
    """Export a subnet to ONNX or TFLite (fp32 / int8) and verify it against PyTorch on real images."""
    from ..errors import VerificationError
    from ..export.inputs import BnOptions
    from ..export.pipeline import ExportOptions, plan_export, run_export
    from ..export.report import load_report, report_path
    from ..flow import next_after_export

    supernet = merge_alias(supernet, checkpoint, "--supernet", "--checkpoint")
    verify_images = merge_alias(verify_images, verify_images_old, "--verify-images", "-n", default=1000)
    opts = ExportOptions(value(fmt), subnet, int8, dynamic_range, supernet, out, not no_recalibrate, data,
                         dynamic_batch, verify_images, force, bn_options(bn_images, bn_batch, bn_transform, BnOptions),
                         checks.count(workers, "--workers", 64, lo=0, optional=True), skip_bad_images,
                         checks.threads(threads), over_budget=over_budget)
    error = None
    with steps() as step:
        plan = plan_export(opts, step, on_note=note)
        try:
            run_export(plan, step)
        except VerificationError as e:
            error = str(e)
    written = plan.written or plan.out  # the final name, or the `.failed` one
    report = load_report(written)  # what was saved, pass or fail
    if as_json:
        print_json(report)
    else:
        render_report(report, report_path(written))
    if error:
        fail(error, code=1)
    if not as_json:
        next_step(next_after_export())


def bn_options(images: int | None, batch: int, transform: str | None, cls):
    """Checked --bn-* options (bad values: one red line)."""
    if images is not None:
        checks.count(images, "--bn-images", checks.MAX_IMAGES)
    checks.count(batch, "--bn-batch", 100000)
    if transform not in (None, "train", "eval"):
        fail(f"--bn-transform {transform!r}: choose train or eval")
    return cls(images, batch, transform)


def render_report(r: dict[str, Any], path: Path) -> None:
    from ..export.verify import format_value
    from ..space import SpaceSpec
    from ..space.formats import arch_of_space

    v = r["verification"]
    checks = {c["metric"]: c for c in v["checks"]}
    fmt = {"onnx": "ONNX", "tflite": "TFLite"}[r["file_format"]]
    t = Table(title=f"{fmt} {r['precision']}: {r['file']}", title_justify="left")
    for col in ("", "value", "tolerance", "check"):
        t.add_column(col, justify="right" if col == "tolerance" else "left")
    size = f"{r['size_bytes'] / 1e6:.2f} MB"
    if r.get("fp32_size_bytes"):
        size += f" (fp32 {r['fp32_size_bytes'] / 1e6:.2f} MB)"
    sub = r["subnet"]
    inp = r["input"]
    quant = inp.get("quantization")
    rows: list[tuple[str, str]] = [
        ("size", size),
        ("params / MACs", f"{sub['params'] / 1e6:.3f} M / {sub['macs'] / 1e6:.1f} M"),
        ("subnet", (f"{arch_of_space(SpaceSpec.from_dict(sub['space']), sub['arch']).short()}  "
                    f"({Path(sub['path']).name})")),
        ("input", f"{inp['shape']} {inp['dtype']}" + (f" (scale {quant['scale']:.4g}, zero point {quant['zero_point']})"
                                                      if quant else "")),
        ("BN statistics", (f"recalibrated on {r['bn']['images']} images at r={r['bn']['resolution']} "
                           f"(batch {r['bn']['batch']}, {r['bn']['preprocessing']}), " if r["bn"]["recalibrated"]
                           else "") + r["bn"]["source"]),
        ("verified on", f"{v['images']} images, {v['source']}"
         + (f" ({v['preprocessing']} at r={v['resolution']})" if v.get("preprocessing") else "")),
    ]
    if r.get("calibration"):
        c = r["calibration"]
        rows.append(("int8 calibration", f"{c['images']} images at r={c['resolution']}, {c['source']}"))
    if r.get("skipped_images"):
        rows.append(("skipped images", f"{r['skipped_images']} unreadable (--skip-bad-images)"))
    for name, text in rows:
        t.add_row(name, text, "", "")
    labels = {"max_abs_diff": "max |diff|", "logit_scale": "logit scale (max |logit|)",
              "max_abs_diff_rel": "max |diff| / logit scale", "top1_agreement": "top-1 agreement %",
              "sqnr_db": "SQNR dB", "accuracy_torch": "accuracy, PyTorch fp32 %",
              "accuracy_file": "accuracy, this file %", "accuracy_drop": "accuracy drop (points)",
              "size_ratio": "size / fp32 size"}
    for key, label in labels.items():
        if key not in v["metrics"]:
            continue
        c = checks.get(key)
        tol = f"{c['bound']} {format_value(c['limit'])}" if c else ""
        verdict = _verdict(c)
        t.add_row(label, format_value(v["metrics"][key]), tol, verdict)
    sec = r["seconds"]
    t.add_row("time", f"export {sec['export']:.1f} s, verify {sec['verify']:.1f} s", "", "")
    console.print(t)
    for w in r.get("warnings", []):
        console.print(f"[bold yellow]warning:[/] {w}")
    state = "[green]verified[/]" if r["passed"] else "[red]verification failed[/]"
    console.print(f"{state}; report {path}")
    for c in checks.values():
        if c["passed"] is False and not c.get("fatal", True):
            console.print(f"[yellow]target missed (not a verification failure):[/] {c['label']} "
                          f"{format_value(c['value'])} (target {c['bound']} {format_value(c['limit'])})")


def _verdict(c: dict[str, Any] | None) -> str:
    if c is None:
        return ""
    if c["passed"] is None:
        return "[yellow]skipped[/]"
    if c["passed"]:
        return "[green]pass[/]"
    return "[red]FAIL[/]" if c.get("fatal", True) else "[yellow]target missed[/]"


# ---- benchmark ------------------------------------------------------------------------------------
def benchmark(
    file: Path | None = typer.Argument(None, help="An exported .onnx or .tflite file; default: the last export."),
    device: str | None = device_option("Device name (devices/NAME.yaml) or descriptor path; default: the device "
                                       "the last export's subnet was searched for, else cpu."),
    table: Path | None = table_option("Latency table folder of the prediction; default: the one the file's "
                                      "subnet was searched with, else the device's."),
    threads: int | None = typer.Option(None, "--threads", help="Override the descriptor's thread count."),
    sessions: int = typer.Option(3, "--sessions", help="Fresh sessions (samples pooled)."),
    max_runs: int = typer.Option(200, "--max-runs", help="Cap of timed runs per session."),
    host: str | None = typer.Option(None, "--host", help="ssh devices: user@host[:port] or a ~/.ssh/config alias "
                                    "(default: the one the last profile of this device was given, else the descriptor's)."),
    accept_new_host_key: bool = typer.Option(False, "--accept-new-host-key", help="ssh devices: record an unknown "
                                             "host key on first use (a changed key is always refused)."),
    serial: str | None = typer.Option(None, "--serial", help="adb devices: the phone's serial (default: the last "
                                      "profile's of this device, else the only one attached)."),
    benchmark_binary: Path | None = typer.Option(None, "--benchmark-binary", help="adb devices: TFLite's "
                                                 "benchmark_model for the phone (default: the last profile's)."),
    as_json: bool = json_option(),
) -> None:
    """Time an exported file with the profiling protocol, next to the device table's prediction
    (on ssh boards through the remote runner, on adb phones with benchmark_model)."""
    from ..devices.benchmark import benchmark as run_benchmark
    from ..devices.benchmark import check_model_file
    from ..flow import benchmark_inputs, remote_options
    from ..latency.protocol import Protocol

    sessions, max_runs, _ = checks.protocol_options(sessions, max_runs)
    checks.threads(threads)
    file, device, table, notes = benchmark_inputs(file, device, table)
    remote, more = remote_options(device, {"host": host, "serial": serial, "benchmark_binary":
                                           str(benchmark_binary) if benchmark_binary else None})
    for line in notes + more:
        note(line)
    check_model_file(file)
    try:
        proto = Protocol(sessions=sessions, max_runs=max_runs, min_runs=min(20, max_runs))
    except ValueError as e:
        fail(str(e))
    with steps() as step:
        step(f"timing {file.name} ({sessions} sessions)")
        result = run_benchmark(file, device, threads, proto, table_dir=table,
                               accept_new_host_key=accept_new_host_key, **remote)
    if (result.get("drift") or {}).get("message"):
        err_console.print(f"[yellow]{result['drift']['message']}[/]")
    if as_json:
        print_json(result)
        return
    m, b = result["measured_ms"], result["backend"]
    t = Table(title=f"{file.name} on {result['device']} ({b['runtime']} {b['runtime_version']}, "
                    f"{b['threads']} thread(s))", title_justify="left")
    for col in ("latency", "median ms", "p10 ms", "p90 ms", "runs"):
        t.add_column(col, justify="left" if col == "latency" else "right")
    t.add_row("measured", f"{m['median']:.3f}", *(f"{m[q]:.3f}" if m.get(q) is not None else "-"
                                                  for q in ("p10", "p90")), str(m["count"]))
    pred = result["predicted_ms"]
    if pred is not None:
        p = result["prediction"]
        t.add_row(f"predicted ({p.get('runtime')} table, {p.get('stat')})", f"{pred:.3f}", "", "", "")
    budget = result.get("budget_ms")
    if budget is not None:
        t.add_row("budget (search)", f"{budget:.3f}", "", "", "")
    console.print(t)
    if pred is not None:
        console.print(f"measured / predicted  {m['median'] / pred:.3f}")
    else:
        console.print(f"[yellow]{result['prediction']['note']}[/]")
    if budget is not None:
        verdict = "[green]within[/]" if m["median"] <= budget else "[yellow]over[/]"
        console.print(f"measured / budget     {m['median'] / budget:.3f} ({verdict} the search's budget)")
    for line in result["notes"]:
        console.print(f"[dim]note: {line}[/]")
