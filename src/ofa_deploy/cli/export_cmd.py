"""`ofa-deploy export` and `ofa-deploy benchmark`: thin wrappers over `ofa_deploy.export` and
`ofa_deploy.devices.benchmark` (progress: `views.progress.steps`, a spinner that still reaches the
terminal while a converter's output is redirected). A missed tolerance exits with code 1 (bad
input: 2, as everywhere).
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..views import export as view
from ..views.console import note
from ..views.progress import steps
from . import options as opt
from .choices import ExportFormat
from .common import fail, merge_alias, value
from .options import Opt


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
    view.exported(load_report(written), report_path(written), as_json, failed=error is not None)  # pass or fail
    if error:
        fail(error, code=1)


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
    accept_new_host_key: opt.HostKey = False,
    serial: str | None = Opt(None, "--serial", help="adb devices: the phone's serial (default: the last profile's of "
                             "this device, else the only one attached)."),
    benchmark_binary: Path | None = Opt(None, "--benchmark-binary", help="adb devices: TFLite's benchmark_model for "
                                        "the phone (default: the last profile's)."),
    as_json: opt.Json = False,
) -> None:
    """Time an exported file with the profiling protocol, next to the device table's prediction
    (on ssh boards through the remote runner, on adb phones with benchmark_model)."""
    from ..benchmark_run import BenchmarkRun

    run = BenchmarkRun(file, device, table, threads, sessions, max_runs,
                       opt.remote_args(host, accept_new_host_key, serial, benchmark_binary), on_note=note)
    with steps() as step:
        step(f"timing {run.file.name} ({run.proto.sessions} sessions)")
        result = run.run()
    view.benchmarked(result, run.file, as_json)
