"""`ofa-deploy export` and `ofa-deploy benchmark`: thin wrappers over `ofa_deploy.export`.

Progress goes to a console on a duplicate of stderr's descriptor: while a converter runs, the
library redirects descriptors 1 and 2 to a log (`runtime.quiet`), and the spinner must still
reach the terminal. A missed tolerance exits with code 1 (bad input: 2, as everywhere).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from .. import checks
from . import options as opt
from .choices import ExportFormat
from .common import console, err_console, fail, merge_alias, next_step, note, print_json, value
from .options import Opt
from .render import rich_table


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("benchmark")(benchmark)


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
    Yields the callback the library calls at the start of every step."""
    with os.fdopen(os.dup(2), "w") as stream:
        out = Console(file=stream, highlight=False)
        with out.status("starting") as status:
            step = Steps(out, status)
            yield step
            step.finish()


# ---- export ---------------------------------------------------------------------------------------
def export(
    fmt: ExportFormat = Opt(..., "--format", "-f", help="File format."),
    subnet: opt.SubnetIn = None,
    int8: bool = Opt(False, "--int8", help="Full-integer int8 (TFLite: ai-edge-quantizer; ONNX: onnxruntime static "
                     "QDQ), calibrated on real images, accuracy-controlled."),
    dynamic_range: bool = Opt(False, "--dynamic-range", help="TFLite int8 weights with float activations (smaller, "
                              "not faster)."),
    supernet: Path | None = opt.supernet("Supernet (ours or official); default: the one the subnet was searched for, "
                                         "else the shipped demo supernet."),
    checkpoint: Path | None = Opt(None, "--checkpoint", "-c", hidden=True,
                                  help="Old name of --supernet (kept for one release)."),
    out: Path | None = opt.out("Output file or folder; default: <subnet name>[.int8|.drq].<format> here."),
    no_recalibrate: bool = Opt(False, "--no-recalibrate", help="Keep the supernet's BN statistics instead of "
                               "recalibrating them."),
    data: Path | None = Opt(None, "--data", help="Dataset folder (Fashion-MNIST idx files or ImageNet-style "
                            "train/<class>/); default: the supernet recipe's dataset."),
    dynamic_batch: bool = Opt(False, "--dynamic-batch", help="ONNX with a dynamic batch dimension."),
    verify_images: int | None = Opt(None, "--verify-images", help="Test images the file is verified on. "
                                    "[default: 300]"),
    verify_images_old: int | None = Opt(None, "-n", hidden=True,
                                        help="Old short name of --verify-images (kept for one release)."),
    force: opt.ReplaceOut = False,
    bn_images: int | None = Opt(None, "--bn-images", help="BN calibration images (default: the recipe's, else 2000, "
                                "upstream's sub_train_loader)."),
    bn_batch: int = Opt(200, "--bn-batch", help="Batch size of BN calibration."),
    bn_transform: str | None = Opt(None, "--bn-transform", help="train (upstream: augmented, seeded) or eval "
                                   "(deterministic); default: train for an ImageNet folder, eval for arrays."),
    workers: opt.FolderWorkers = None,
    skip_bad_images: bool = Opt(False, "--skip-bad-images", help="Skip unreadable images (counted in the report) "
                                "instead of stopping."),
    threads: int | None = opt.threads("torch intra-op threads for BN recalibration and the PyTorch side of "
                                      "verification (default: torch's)."),
    over_budget: bool = Opt(False, "--over-budget", help="Export a subnet that `search --verify` measured over its "
                            "budget (refused otherwise; the report says so)."),
    rtol: float | None = Opt(None, "--rtol", help="fp32 parity: largest |diff| per image relative to its logit "
                             "scale, at p99 (10x at the max). [default: 1e-4]"),
    atol: float | None = Opt(None, "--atol", help="fp32 parity: absolute |diff| ignored. [default: 0]"),
    max_drop: float = Opt(0.5, "--max-drop", help="int8: accuracy points the file may lose on labelled held-out "
                          "images; the most sensitive ops fall back to float until it holds."),
    calibration_images: int = Opt(300, "--calibration-images", help="int8 calibration images (a second, disjoint "
                                  "set checks stability)."),
    as_json: bool = opt.json("Print the report as JSON."),
) -> None:
    """Export a subnet to ONNX or TFLite (fp32 / int8) and verify it against PyTorch on real images."""
    from ..devices.speed import compare_speed
    from ..errors import VerificationError
    from ..export.options import export_options
    from ..export.pipeline import plan_export, run_export
    from ..export.report import load_report, report_path
    from ..flow import next_after_export

    supernet = merge_alias(supernet, checkpoint, "--supernet", "--checkpoint")
    verify_images = merge_alias(verify_images, verify_images_old, "--verify-images", "-n", default=300)
    opts = export_options(value(fmt), subnet, int8, dynamic_range, supernet, out, not no_recalibrate, data,
                          dynamic_batch, verify_images, force, bn_images, bn_batch, bn_transform, workers,
                          skip_bad_images, threads, rtol, atol, max_drop, calibration_images, over_budget)
    error = None
    with steps() as step:
        plan = plan_export(opts, step, on_note=note)
        try:
            run_export(plan, step, step.progress, timer=compare_speed)
        except VerificationError as e:
            error = str(e)
        except KeyboardInterrupt:
            fail(f"interrupted: nothing was written at {plan.out} (the staged files were removed; the file already "
                 "there, if any, is untouched); rerun the same command to export again", code=130)
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


def render_report(r: dict[str, Any], path: Path) -> None:
    from ..export.summary import METRIC_LABELS, format_value, report_rows

    v = r["verification"]
    checks = {c["metric"]: c for c in v["checks"]}
    fmt = {"onnx": "ONNX", "tflite": "TFLite"}[r["file_format"]]
    t = rich_table(f"{fmt} {r['precision']}: {r['file']}", ("", "value", "tolerance", "check"),
                   right=("tolerance",))
    for name, text in report_rows(r):
        t.add_row(name, text, "", "")
    for key, label in METRIC_LABELS.items():
        if key not in v["metrics"]:
            continue
        c = checks.get(key)
        tol = f"{c['bound']} {format_value(c['limit'])}" if c else ""
        t.add_row(label, format_value(v["metrics"][key]), tol, _verdict(c))
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
    device: str | None = opt.device("Device name (devices/NAME.yaml) or descriptor path; default: the device the last "
                                    "export's subnet was searched for, else cpu."),
    table: Path | None = opt.table("Latency table folder of the prediction; default: the one the file's subnet was "
                                   "searched with, else the device's."),
    threads: opt.DescriptorThreads = None,
    sessions: int = opt.sessions("Fresh sessions (samples pooled)."),
    max_runs: opt.MaxRuns = 200,
    host: str | None = Opt(None, "--host", help=f"ssh devices: {opt.HOST_HELP} (default: the one the last profile of "
                           "this device was given, else the descriptor's)."),
    accept_new_host_key: bool = opt.host_key("ssh devices: record an unknown host key on first use (a changed key "
                                             "is always refused)."),
    serial: str | None = opt.serial("adb devices: the phone's serial (default: the last profile's of this device, "
                                    "else the only one attached)."),
    benchmark_binary: Path | None = Opt(None, "--benchmark-binary", help="adb devices: TFLite's benchmark_model for "
                                        "the phone (default: the last profile's)."),
    as_json: opt.Json = False,
) -> None:
    """Time an exported file with the profiling protocol, next to the device table's prediction
    (on ssh boards through the remote runner, on adb phones with benchmark_model)."""
    from ..devices.benchmark import benchmark as run_benchmark
    from ..devices.benchmark import check_model_file
    from ..flow import benchmark_inputs, remote_options
    from ..latency.options import protocol_for

    proto = protocol_for(sessions, max_runs)
    checks.threads(threads)
    file, device, table, notes = benchmark_inputs(file, device, table)
    given = opt.remote_args(host, accept_new_host_key, serial, benchmark_binary)
    accept = given.pop("accept_new_host_key")
    remote, more = remote_options(device, given)
    for line in notes + more:
        note(line)
    check_model_file(file)
    with steps() as step:
        step(f"timing {file.name} ({proto.sessions} sessions)")
        result = run_benchmark(file, device, threads, proto, table_dir=table, accept_new_host_key=accept, **remote)
    if (result.get("drift") or {}).get("message"):
        err_console.print(f"[yellow]{result['drift']['message']}[/]")
    if as_json:
        print_json(result)
        return
    _print_benchmark(result, file)


def _print_benchmark(result: dict[str, Any], file: Path) -> None:
    from ..flow import next_after_benchmark

    m, b = result["measured_ms"], result["backend"]
    t = rich_table(f"{file.name} on {result['device']} ({b['runtime']} {b['runtime_version']}, "
                   f"{b['threads']} thread(s))", ("latency", "median ms", "p10 ms", "p90 ms", "runs"))
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
    next_step(next_after_benchmark())
