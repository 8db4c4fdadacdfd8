"""`ofa-deploy export` as a library call: subnet file + supernet -> verified file + report.

Two phases, so that bad input fails before anything is written: `plan_export` resolves and checks
everything (target, subnet file, output path, supernet and its space, dataset); `run_export`
extracts the subnet, recalibrates its BN, writes the file, verifies it on real images against the
PyTorch subnet and writes `<file>.report.json`. A missed tolerance raises `VerificationError`
after the report is written: the file and its report stay for inspection.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import checks
from ..errors import CheckpointError, SpaceError, VerificationError
from ..nn import OFAMobileNetV3, load_supernet
from ..space import Subnet, arch_costs, load_subnet
from .inputs import ExportData, calibration_images, resolve_data, verification_images
from .onnx import export_onnx
from .quantize import CALIBRATION_IMAGES, quantize_dynamic_range, quantize_int8
from .quiet import captured_output, run_quietly
from .report import save_report
from .runtime import open_model, runtime_version
from .targets import Target, choose_target, output_path
from .tflite import convert_fp32
from .verify import compare, describe_check, failed, run_checks

StepFn = Callable[[str], None]


@dataclass
class ExportOptions:
    """The command-line options of `ofa-deploy export`, as data."""

    format: str
    subnet: Path | None = None  # default: the last search's subnet
    int8: bool = False
    dynamic_range: bool = False
    checkpoint: Path | None = None  # default: the shipped demo supernet
    out: Path | None = None
    recalibrate: bool = True
    data: Path | None = None
    dynamic_batch: bool = False
    verify_images: int = 1000


@dataclass
class ExportPlan:
    target: Target
    subnet: Subnet
    subnet_path: Path
    supernet: OFAMobileNetV3
    supernet_path: Path
    out: Path
    data: ExportData
    options: ExportOptions


def _no_step(_: str) -> None:
    return None


def plan_export(opts: ExportOptions, on_step: StepFn = _no_step) -> ExportPlan:
    """Check the request and load what it needs; raises a typed error and writes nothing on bad input."""
    target = choose_target(opts.format, opts.int8, opts.dynamic_range, opts.dynamic_batch)
    checks.count(opts.verify_images, "--verify-images", checks.MAX_VERIFY_IMAGES)  # 0 is refused: every export is verified
    if opts.subnet is not None:
        subnet_path = Path(opts.subnet)
    else:
        from ..search.state import last_search_path

        subnet_path = last_search_path()
    subnet = load_subnet(subnet_path)
    out = output_path(target, subnet_path, opts.out)
    supernet_path = _supernet_path(opts.checkpoint)
    on_step(f"loading supernet {supernet_path.name}")
    supernet = load_supernet(supernet_path)
    check_same_space(subnet, subnet_path, supernet, supernet_path)
    on_step("loading images")
    data = resolve_data(supernet.spec, getattr(supernet, "checkpoint_meta", {}), opts.data)
    return ExportPlan(target, subnet, subnet_path, supernet, supernet_path, out, data, opts)


def _supernet_path(checkpoint: Path | None) -> Path:
    if checkpoint is not None:
        return Path(checkpoint)
    from ..nn.shipped import ShippedSupernetMissing, shipped_supernet_path

    try:
        return shipped_supernet_path()
    except ShippedSupernetMissing as e:
        raise CheckpointError(str(e)) from None


def check_same_space(subnet: Subnet, subnet_path: Path, supernet: OFAMobileNetV3, supernet_path: Path) -> None:
    """A subnet can only be cut from the supernet of its own space (resolutions aside)."""
    if not subnet.spec.same_space(supernet.spec):
        raise SpaceError(
            f"the subnet {subnet_path} belongs to the space {subnet.spec.describe()}, but the supernet "
            f"{supernet_path} is {supernet.spec.describe()}; give the supernet it was searched for "
            "(--checkpoint) or search again with this supernet"
        )
    subnet.arch.validate(supernet.spec, check_resolution=False)


def run_export(plan: ExportPlan, on_step: StepFn = _no_step) -> dict[str, Any]:
    """Extract, recalibrate, export, verify, report. Returns the report (also saved beside the file)."""
    target, arch, spec = plan.target, plan.subnet.arch, plan.supernet.spec
    started = time.perf_counter()
    sub, bn = _subnet_module(plan, on_step)
    example = torch.zeros(1, spec.in_channels, arch.r, arch.r)
    fp32_size = _write_file(plan, sub, example, on_step)
    export_s = time.perf_counter() - started

    started = time.perf_counter()
    x, labels = verification_images(plan.data, spec, arch.r, plan.options.verify_images)
    on_step(f"verifying on {len(x)} images")
    with captured_output():  # the interpreter logs its XNNPACK delegate
        model = open_model(plan.out)
    metrics = compare(torch_logits(sub, x), model(x), labels)
    size = plan.out.stat().st_size
    if fp32_size is not None:
        metrics["size_ratio"] = size / fp32_size
    checks = run_checks(metrics, target.limits)
    passed = not failed(checks)
    params, macs = arch_costs(spec, arch)
    report = {
        "file": str(plan.out.resolve()),
        "file_format": target.format,
        "precision": target.precision,
        "dynamic_batch": target.dynamic_batch,
        "size_bytes": size,
        "fp32_size_bytes": fp32_size,
        "input": model.input.to_dict(),
        "output": model.output.to_dict(),
        "subnet": {"path": str(plan.subnet_path.resolve()), "arch": arch.to_dict(), "space": spec.to_dict(),
                   "params": params, "macs": macs},
        "supernet": {"path": str(plan.supernet_path.resolve()), "space": spec.describe()},
        "bn": bn,
        "verification": {"images": len(x), "source": _image_source(plan.data, labels), "metrics": metrics,
                         "checks": checks, "passed": passed},
        "passed": passed,
        "seconds": {"export": round(export_s, 2), "verify": round(time.perf_counter() - started, 2)},
        "versions": _versions(target),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    on_step("writing report")
    path = save_report(report, plan.out)
    if not passed:
        raise VerificationError(
            f"{plan.out} failed verification against the PyTorch subnet: "
            + "; ".join(describe_check(c) for c in failed(checks))
            + f". The file and its report {path} are kept for inspection; do not ship it"
        )
    return report


def _subnet_module(plan: ExportPlan, on_step: StepFn) -> tuple[nn.Module, dict[str, Any]]:
    """The static subnet in eval mode, BN recalibrated on validation images when there are some."""
    from ..train.evaluate import calibrated_subnet

    arch, data = plan.subnet.arch, plan.data
    if plan.options.recalibrate and data.splits is not None:
        n = min(data.bn_images, len(data.splits.val))
        on_step(f"recalibrating BN on {n} validation images")
        sub = calibrated_subnet(plan.supernet, arch, data.splits, n)
        bn = {"recalibrated": True, "images": n, "source": f"validation split of {data.source}"}
    else:
        sub = plan.supernet.extract(arch)
        why = "--no-recalibrate" if not plan.options.recalibrate else "no dataset"
        bn = {"recalibrated": False, "images": 0, "source": f"statistics stored in the supernet ({why})"}
    return sub.to(memory_format=torch.contiguous_format).eval(), bn


def _write_file(plan: ExportPlan, sub: nn.Module, example: torch.Tensor, on_step: StepFn) -> int | None:
    """Write the target file; returns the size of the intermediate fp32 .tflite for quantised targets."""
    target, out = plan.target, plan.out
    if target.format == "onnx":
        on_step("exporting ONNX (opset 17)")
        run_quietly("ONNX export", export_onnx, sub, example, out, target.dynamic_batch)
        return None
    on_step("converting to TFLite fp32 (litert-torch)")
    if not target.quantized:
        run_quietly("TFLite conversion", convert_fp32, sub, example, out)
        return None
    with tempfile.TemporaryDirectory(prefix="ofa-export-") as tmp:
        fp32 = run_quietly("TFLite conversion", convert_fp32, sub, example, Path(tmp) / "fp32.tflite")
        if target.precision == "int8":
            calib = calibration_images(plan.data, plan.supernet.spec, plan.subnet.arch.r, CALIBRATION_IMAGES)
            on_step(f"quantising to int8 (calibration on {len(calib)} images)")
            run_quietly("int8 quantisation", quantize_int8, fp32, calib, out)
        else:
            on_step("quantising weights to int8 (dynamic range)")
            run_quietly("dynamic-range quantisation", quantize_dynamic_range, fp32, out)
        return fp32.stat().st_size


@torch.no_grad()
def torch_logits(module: nn.Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Reference logits of the PyTorch subnet (eval mode) on float32 NCHW images."""
    module.eval()
    return np.concatenate([module(torch.from_numpy(x[i:i + batch_size])).numpy()
                           for i in range(0, len(x), batch_size)])


def _image_source(data: ExportData, labels: np.ndarray | None) -> str:
    return f"test split of {data.source}" if labels is not None else data.source


def _versions(target: Target) -> dict[str, str]:
    out = {"torch": torch.__version__, "runtime": runtime_version(f".{target.format}")}
    for name in ("ofa-deploy", "litert-torch" if target.format == "tflite" else "onnx",
                 "ai-edge-quantizer" if target.quantized else None):
        if name is None:
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


__all__ = ["ExportOptions", "ExportPlan", "check_same_space", "plan_export", "run_export", "torch_logits"]
