"""`ofa-deploy export` as a library call: subnet file + supernet -> verified file + report.

Two phases, so that bad input fails before anything is written: `plan_export` resolves and checks
everything (target, subnet file, output path, supernet and its space, dataset); `run_export`
extracts the subnet, recalibrates its BN, writes the file under a hidden temporary name, verifies
it on real images against the PyTorch subnet, writes its report (naming the file's sha256), and
only then moves both to the final name. So an interrupted export leaves the final name as it was,
and a missed tolerance raises `VerificationError` with the file and its report moved to
`<name>.failed.<format>` for inspection, never to the name a user ships.
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

from .. import checks, records
from ..errors import SpaceError, VerificationError
from ..flow import export_sources
from ..fsio import is_space_error, sha256_file, space_error, temp_sibling, writer_lock
from ..nn.finetuned import FineTunedSubnet, load_weights_source
from ..nn.registry import Supernet
from ..outputs import check_output
from ..runtime.convert import convert_fp32, export_onnx
from ..runtime.models import open_model
from ..runtime.quiet import captured_output, run_quietly
from ..runtime.sessions import runtime_version
from ..space import Subnet, arch_costs, load_subnet
from ..space.checkpoint import checkpoint_space
from .budget import check_over_budget
from .budget import warning as budget_warning
from .cache import CacheKey, cached_file, load_bn, save_bn, store_file, subnet_key
from .inputs import (
    NO_BN_WARNING,
    BnOptions,
    ExportData,
    bn_batches,
    calibration_images,
    resolve_data,
    skipped,
    transform_name,
    verification_images,
)
from .int8 import accuracy_controlled
from .limits import run_checks
from .parity import Tolerance, check_fp32
from .quantize import CALIBRATION_IMAGES, quantize_dynamic_range
from .report import publish, report_path, save_report
from .speed import verdict as speed_verdict
from .targets import Target, choose_target, output_path, require_tools
from .verify import compare, describe_check, failed, int8_limits

StepFn = Callable[[str], None]


@dataclass
class ExportOptions:
    """The command-line options of `ofa-deploy export`, as data."""

    format: str
    subnet: Path | None = None  # default: the last search's subnet
    int8: bool = False
    dynamic_range: bool = False
    checkpoint: Path | None = None  # the supernet; default: the subnet's (`flow.export_sources`)
    out: Path | None = None
    recalibrate: bool = True
    data: Path | None = None
    dynamic_batch: bool = False
    verify_images: int = 300  # a few hundred: enough for p99 and accuracy, seconds not minutes (issue 29)
    force: bool = False  # replace an --out file of another kind
    bn: BnOptions | None = None  # --bn-images / --bn-batch / --bn-transform
    workers: int | None = None  # DataLoader workers reading an ImageNet-style folder
    skip_bad_images: bool = False
    threads: int | None = None  # torch intra-op threads of BN recalibration and the PyTorch side of verification
    tolerance: Tolerance | None = None  # fp32 parity (--rtol / --atol); default: `parity.Tolerance()`
    max_drop: float = 0.5  # int8: accuracy points the int8 file may lose on labelled held-out images
    calibration_images: int = CALIBRATION_IMAGES  # int8 calibration (a second, disjoint set checks stability)
    over_budget: bool = False  # export a subnet that `search --verify` measured over its budget


@dataclass
class ExportPlan:
    target: Target
    subnet: Subnet
    subnet_path: Path
    supernet: Supernet
    supernet_path: Path
    out: Path
    data: ExportData
    options: ExportOptions
    written: Path | None = None  # where `run_export` put the file: `out`, or the `.failed` name
    device: str | None = None  # the device the subnet was searched for (benchmark's default)
    over_budget: dict[str, Any] | None = None  # its verification measured it over budget (`export.budget`)


def _no_step(_: str) -> None:
    return None


def plan_export(opts: ExportOptions, on_step: StepFn = _no_step, on_note: StepFn = _no_step) -> ExportPlan:
    """Check the request and load what it needs; raises a typed error and writes nothing on bad input.
    `on_note` hears which defaults were taken from the records (`flow.export_sources`)."""
    target = choose_target(opts.format, opts.int8, opts.dynamic_range, opts.dynamic_batch)
    require_tools(target)  # before any work: a missing extra is one line, not a failure after BN
    checks.count(opts.verify_images, "--verify-images", checks.MAX_VERIFY_IMAGES)  # 0 is refused: every export is verified
    checks.threads(opts.threads)
    checks.count(opts.calibration_images, "--calibration-images", checks.MAX_IMAGES)
    if not (0 <= opts.max_drop <= 100):
        from ..errors import BadValueError

        raise BadValueError(f"--max-drop {opts.max_drop}: give accuracy points between 0 and 100 (default 0.5)")
    if opts.tolerance is not None and target.quantized:
        from ..errors import OptionError

        raise OptionError("--rtol / --atol set the fp32 parity check; int8 files are judged by their accuracy drop "
                          "(drop them, or export fp32)")
    sources = export_sources(opts.subnet, opts.checkpoint)
    for note in sources.notes:
        on_note(note)
    # The supernet's space is read first (no weights): a subnet file that names no space (an
    # official arch dict) takes that of the supernet it is cut from.
    space = checkpoint_space(sources.supernet)
    subnet = load_subnet(sources.subnet, spec=space)
    over = check_over_budget(subnet.meta, sources.subnet, opts.over_budget)
    out = output_path(target, sources.subnet, opts.out)
    check_output(out, "model", opts.force)
    check_output(report_path(out), "report", opts.force)
    on_step(f"loading supernet {sources.supernet.name}")
    supernet = load_weights_source(sources.supernet)  # a supernet, or `finetune`'s subnet checkpoint
    check_same_space(subnet, sources.subnet, supernet, sources.supernet)
    finetuned = isinstance(supernet, FineTunedSubnet)
    if finetuned:
        supernet.check_arch(subnet.arch, sources.subnet)
    on_step("loading images")
    data = resolve_data(supernet.spec, getattr(supernet, "checkpoint_meta", {}), opts.data, opts.workers,
                        opts.skip_bad_images)
    if opts.bn is not None and opts.bn.transform not in (None, "train", "eval"):
        from ..errors import BadValueError

        raise BadValueError(f"--bn-transform {opts.bn.transform!r}: choose train or eval")
    if opts.recalibrate and data.source is None and not finetuned:
        data.warnings.append(NO_BN_WARNING)
        on_note(f"warning: {NO_BN_WARNING}")
    return ExportPlan(target, subnet, sources.subnet, supernet, sources.supernet, out, data, opts, device=sources.device,
                      over_budget=over)


def check_same_space(subnet: Subnet, subnet_path: Path, supernet: Supernet, supernet_path: Path) -> None:
    """A subnet can only be cut from the supernet of its own space (resolutions aside)."""
    if not subnet.spec.same_space(supernet.spec):
        raise SpaceError(
            f"the subnet {subnet_path} belongs to the space {subnet.spec.describe()}, but the supernet "
            f"{supernet_path} is {supernet.spec.describe()}; give the supernet it was searched for "
            "(--supernet) or search again with this supernet"
        )
    subnet.arch.validate(supernet.spec, check_resolution=False)


def failed_path(path: Path) -> Path:
    """Where a file that failed verification is kept: `m.int8.tflite` -> `m.int8.failed.tflite`."""
    return path.with_name(f"{path.name[:-len(path.suffix)]}.failed{path.suffix}")


Timer = Callable[[Path, Path], dict[str, Any]]  # (int8 file, fp32 file) -> `devices.speed.compare_speed`'s record


def run_export(plan: ExportPlan, on_step: StepFn = _no_step, on_progress: StepFn = _no_step,
               timer: Timer | None = None) -> dict[str, Any]:
    """Extract, recalibrate, export, verify, report, publish. Returns the report (also saved beside
    the file). Until verification has passed nothing is written at the final name. One export per
    output name at a time (`fsio.writer_lock` on the name: two would publish each other's files
    under each other's reports); a second one fails with `BusyError` before it writes anything.
    `on_progress` hears how far the current step is ("312/1000 images"), for a progress line; `timer`
    (`devices.speed.compare_speed`) times an int8 file against its fp32 file (None: not timed)."""
    lock = writer_lock(plan.out.parent, "exported model", name=plan.out.name)
    staged = temp_sibling(plan.out, keep_suffix=True)  # the runtime picks its parser by suffix
    threads_before = torch.get_num_threads()
    try:
        if plan.options.threads is not None:  # for this export only: the caller's setting comes back after
            torch.set_num_threads(plan.options.threads)
        report = _export_staged(plan, staged, on_step, on_progress, timer)
        dest = plan.out if report["passed"] else failed_path(plan.out)
        report["file"] = str(dest.resolve())
        on_step("writing report")
        save_report(report, staged)
        plan.written = publish(staged, dest)
    except OSError as e:  # a full disk while converting or publishing: one line (`fsio.space_error`)
        if is_space_error(e):  # named by the final name, unless the disk that filled is another (a temp folder)
            elsewhere = isinstance(e.filename, str) and Path(e.filename).parent != plan.out.parent
            raise space_error(e, e.filename if elsewhere else plan.out) from None
        raise
    finally:  # interrupted or failed: the staged files go, the final name is untouched
        torch.set_num_threads(threads_before)
        staged.unlink(missing_ok=True)
        report_path(staged).unlink(missing_ok=True)
        lock.release()
    if not report["passed"]:
        raise VerificationError(
            f"{plan.out} failed verification against the PyTorch subnet: "
            + "; ".join(describe_check(c) for c in failed(report["verification"]["checks"]))
            + f". Nothing was written at {plan.out}; the file and its report are kept for inspection as "
            f"{dest}; do not ship it"
        )
    records.remember_export(plan.written, device=plan.device, subnet=plan.subnet_path)  # `benchmark`'s default
    return report


def _export_staged(plan: ExportPlan, staged: Path, on_step: StepFn, on_progress: StepFn = _no_step,
                   timer: Timer | None = None) -> dict[str, Any]:
    """Write the file at `staged` and verify it; returns its report (not yet saved)."""
    with tempfile.TemporaryDirectory(prefix="ofa-export-") as tmp:
        return _export_in(plan, staged, Path(tmp), on_step, on_progress, timer)


def _export_in(plan: ExportPlan, staged: Path, tmp: Path, on_step: StepFn, on_progress: StepFn,
               timer: Timer | None) -> dict[str, Any]:
    target, arch, spec = plan.target, plan.subnet.arch, plan.supernet.spec
    started = time.perf_counter()
    sub, bn, key = _subnet_module(plan, on_step)
    example = torch.zeros(1, spec.in_channels, arch.r, arch.r)
    # The verification images (labelled held-out images) and PyTorch's logits on them come first:
    # accuracy-controlled int8 measures its drop on them while it quantises.
    x, labels = verification_images(plan.data, spec, arch.r, plan.options.verify_images)
    on_step(f"PyTorch reference logits on {len(x)} images")
    reference = _chunked(lambda part: torch_logits(sub, part), x, on_progress)
    ref_accuracy = None if labels is None else 100.0 * float((reference.argmax(1) == labels).mean())
    fp32_file, calib, int8 = _write_file(plan, sub, example, key, on_step, staged, tmp, x, labels, ref_accuracy)
    fp32_size = None if fp32_file is None else fp32_file.stat().st_size
    export_s = time.perf_counter() - started

    started = time.perf_counter()
    on_step(f"verifying on {len(x)} images")
    with captured_output():  # the interpreter logs its XNNPACK delegate
        model = open_model(staged)
    actual = _chunked(model, x, on_progress)
    tol = None if target.quantized else plan.options.tolerance or Tolerance()
    metrics = compare(reference, actual, labels, tol)
    size = staged.stat().st_size
    if fp32_size is not None:
        metrics["size_ratio"] = size / fp32_size
    if int8 is not None and int8.get("second_calibration_drop") is not None:
        metrics["second_calibration_drop"] = int8["second_calibration_drop"]
    rounding = None
    if tol is None:
        checks = run_checks(metrics, int8_limits(plan.options.max_drop, "second_calibration_drop" in metrics)
                            if target.precision == "int8"
                            else target.limits)
    else:
        checks, rounding = check_fp32(metrics, tol, sub, x, reference, actual)
    passed = not failed(checks)
    verify_s = time.perf_counter() - started
    warnings = list(plan.data.warnings)
    speed = None
    if target.precision == "int8" and fp32_file is not None and timer is not None:
        on_step("timing int8 against fp32 (batch 1, 1 thread)")
        with captured_output():
            speed = timer(staged, fp32_file)
        line = speed_verdict(speed, size, fp32_size)
        if line:
            warnings.append(line)
    params, macs = arch_costs(spec, arch)
    return {
        "file": str(plan.out.resolve()),
        "sha256": sha256_file(staged),
        "file_format": target.format,
        "precision": target.precision,
        "dynamic_batch": target.dynamic_batch,
        "size_bytes": size,
        "fp32_size_bytes": fp32_size,
        "input": model.input.to_dict(),
        "output": model.output.to_dict(),
        "subnet": {"path": str(plan.subnet_path.resolve()), "arch": arch.to_dict(), "space": spec.to_dict(),
                   "params": params, "macs": macs},
        "supernet": {"path": str(plan.supernet_path.resolve()), "space": spec.describe(),
                     **({"finetuned": plan.supernet.checkpoint_meta.get("finetune")}
                        if isinstance(plan.supernet, FineTunedSubnet) else {})},
        "bn": bn,
        "verification": {"images": len(x), "source": _image_source(plan.data, labels), "metrics": metrics,
                         "checks": checks, "passed": passed, "resolution": arch.r,
                         "tolerance": (plan.options.tolerance or Tolerance()).to_dict(), "fp64_rounding": rounding,
                         "preprocessing": transform_name(plan.data.source, "eval")},
        "calibration": calib,
        "int8": int8,
        "speed": speed,
        "skipped_images": skipped(plan.data.source),
        "warnings": warnings + ([budget_warning(plan.over_budget)] if plan.over_budget else []),
        **({"over_budget": plan.over_budget} if plan.over_budget else {}),
        "passed": passed,
        "seconds": {"export": round(export_s, 2), "verify": round(verify_s, 2)},
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(target),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _subnet_module(plan: ExportPlan, on_step: StepFn) -> tuple[nn.Module, dict[str, Any], CacheKey]:
    """The static subnet in eval mode, BN recalibrated on validation images when there are some; and its
    cache key. A subnet recalibrated before with the same supernet, data and settings comes from the
    cache (`export.cache`): a second export of it spends no time on BN."""

    from ..nn.bn import recalibrate_bn

    arch, data = plan.subnet.arch, plan.data
    if isinstance(plan.supernet, FineTunedSubnet):  # trained with its weights: exported as it is
        tuned = plan.supernet.checkpoint_meta.get("finetune") or {}
        how = "from scratch" if tuned.get("from_scratch") else "fine-tuned"
        bn = {"recalibrated": False, "images": 0, "finetuned": True,
              "source": (f"trained with the weights ({how} {tuned.get('epochs', '?')} epochs by `ofa-deploy "
                         f"finetune`, {plan.supernet_path.name}): no recalibration needed")}
        key = subnet_key(plan.supernet_path, arch.to_dict(), {"finetuned": True})
        return plan.supernet.extract(arch).to(memory_format=torch.contiguous_format).eval(), bn, key
    # Contiguous (NCHW), not channels_last: on CPU channels_last shifts official logits by ~1e-3 relative,
    # and the conformance case (golden bn0) holds export to 1e-4.
    sub = plan.supernet.extract(arch)
    if plan.options.recalibrate and data.source is not None:
        batches, bn = bn_batches(data, arch.r, plan.options.bn or BnOptions())
        key = subnet_key(plan.supernet_path, arch.to_dict(), {
            **{k: bn[k] for k in ("requested_images", "batch", "transform", "split", "source", "resolution")},
            "data": None if plan.options.data is None else str(Path(plan.options.data).resolve()),
            "skip_bad_images": plan.options.skip_bad_images})
        cached = load_bn(key, sub)
        if cached is not None:
            on_step(f"BN statistics from the cache ({cached['images']} images at r={arch.r}, recalibrated before)")
            bn = {**cached, "cache": "hit"}
        else:
            on_step(f"recalibrating BN on up to {bn['requested_images']} {bn['split']} images at r={arch.r} "
                    f"({bn['transform']} transform)")
            recalibrate_bn(sub, batches)
            bn["skipped_images"] = skipped(data.source)
            _try_cache(save_bn, key, sub, bn)
            bn = {**bn, "cache": "stored"}
    else:
        why = "--no-recalibrate" if not plan.options.recalibrate else "no dataset"
        key = subnet_key(plan.supernet_path, arch.to_dict(), {"recalibrated": False})
        bn = {"recalibrated": False, "images": 0, "source": f"statistics stored in the supernet ({why})"}
        if data.warnings:
            bn["warning"] = data.warnings[0]
    return sub.to(memory_format=torch.contiguous_format).eval(), bn, key


def _try_cache(fn: Callable[..., Any], *args: Any) -> None:
    """Caching is an optimisation: a full or read-only cache folder must not fail an export."""
    try:
        fn(*args)
    except OSError:
        pass


def _fp32_tflite(sub: nn.Module, example: torch.Tensor, key: CacheKey, dest: Path, on_step: StepFn) -> Path:
    """The fp32 `.tflite` of `sub` at `dest`: converted once per cache key, copied from the cache after."""
    import shutil

    conv_key = key.derived(litert_torch=_version("litert-torch"), input=list(example.shape))
    hit = cached_file(conv_key, "fp32.tflite")
    if hit is not None:
        on_step("fp32 TFLite from the cache (converted before)")
        shutil.copyfile(hit, dest)
        return dest
    on_step("converting to TFLite fp32 (litert-torch)")
    run_quietly("TFLite conversion", convert_fp32, sub, example, dest)
    _try_cache(store_file, conv_key, "fp32.tflite", dest)
    return dest


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _write_file(plan: ExportPlan, sub: nn.Module, example: torch.Tensor, key: CacheKey, on_step: StepFn, out: Path,
                tmp: Path, x: np.ndarray, labels: np.ndarray | None, ref_accuracy: float | None
                ) -> tuple[Path | None, dict[str, Any] | None, dict[str, Any] | None]:
    """Write the target file at `out`; returns the intermediate fp32 file of quantised targets (in `tmp`),
    what int8 calibration read, and the accuracy-controlled int8 record (None where they do not apply)."""
    target = plan.target
    if not target.quantized:
        if target.format == "onnx":
            on_step("exporting ONNX (opset 17)")
            run_quietly("ONNX export", export_onnx, sub, example, out, target.dynamic_batch)
        else:
            _fp32_tflite(sub, example, key, out, on_step)
        return None, None, None
    if target.format == "onnx":
        on_step("exporting ONNX fp32 (opset 17) to quantise")
        fp32 = run_quietly("ONNX export", export_onnx, sub, example, tmp / "fp32.onnx", target.dynamic_batch)
    else:
        fp32 = _fp32_tflite(sub, example, key, tmp / "fp32.tflite", on_step)
    if target.precision != "int8":
        on_step("quantising weights to int8 (dynamic range)")
        run_quietly("dynamic-range quantisation", quantize_dynamic_range, fp32, out)
        return fp32, None, None
    r = plan.subnet.arch.r
    n = plan.options.calibration_images
    images = calibration_images(plan.data, plan.supernet.spec, r, 2 * n)  # two disjoint sets: stability
    calib, calib2 = images[:n], images[n:]
    split = "train" if plan.data.source is not None and plan.data.source.name.startswith("folder:") else "val"
    info = {"images": len(calib), "second_images": len(calib2), "resolution": r,
            "preprocessing": transform_name(plan.data.source, "eval"),
            "source": f"{split} split of {plan.data.description}" if plan.data.source else plan.data.description}
    record = run_quietly("int8 quantisation", accuracy_controlled, fp32, calib, calib2, x, labels, ref_accuracy,
                         plan.options.max_drop, out, on_step)
    return fp32, info, record


@torch.no_grad()
def torch_logits(module: nn.Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Reference logits of the PyTorch subnet (eval mode) on float32 NCHW images."""
    module.eval()
    return np.concatenate([module(torch.from_numpy(x[i:i + batch_size])).numpy()
                           for i in range(0, len(x), batch_size)])


def _chunked(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, on_progress: StepFn, chunk: int = 50
             ) -> np.ndarray:
    """`fn` on `x`, a chunk at a time so that progress can be shown."""
    outs = []
    for i in range(0, len(x), chunk):
        outs.append(fn(x[i:i + chunk]))
        on_progress(f"{min(i + chunk, len(x))}/{len(x)} images")
    return np.concatenate(outs)


def _image_source(data: ExportData, labels: np.ndarray | None) -> str:
    return f"test split of {data.description}" if labels is not None else data.description


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


__all__ = ["ExportOptions", "ExportPlan", "check_same_space", "failed_path", "plan_export", "run_export",
           "torch_logits"]
