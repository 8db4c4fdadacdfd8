"""A torch module -> the file a runtime reads: ONNX (opset 17, one self-contained file, batch fixed
at the example's or dynamic) and fp32 TFLite (litert-torch). Used alike by `export` (whole subnets)
and by `latency` (table blocks, validation subnets), so that what is timed is what ships.

Why the legacy ONNX exporter (`dynamo=False`): torch 2.13's default (dynamo) exporter writes opset 18,
fails to down-convert to 17 (a ReduceMean axes adapter assertion) and moves the weights to an
external `.data` file (TFLITE_NOTES, point 8). The legacy one gives opset 17 in a single file.

litert-torch traces the module with `torch.export` and writes a flatbuffer whose input keeps the
PyTorch layout (NCHW; the converter inserts one TRANSPOSE). Imported lazily: litert-torch pulls in
TensorFlow-Lite tooling that takes seconds to load. Quantisation lives in `export.quantize`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from ..errors import ExportError
from ..fsio import atomic_path

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def onnx_model(module: nn.Module, example: torch.Tensor, input_name: str = INPUT_NAME,
               output_name: str = OUTPUT_NAME, dynamic_batch: bool = False) -> bytes:
    """The serialised ONNX model of `module` (eval mode) at `example`'s shape: opset 17, weights inline."""
    buf = io.BytesIO()
    axes = {input_name: {0: "batch"}, output_name: {0: "batch"}} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamo=False is deprecated, still needed
        torch.onnx.export(module.eval(), (example.contiguous(),), buf, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name], dynamic_axes=axes, dynamo=False)
    return buf.getvalue()


def export_onnx(module: nn.Module, example: torch.Tensor, path: str | os.PathLike,
                dynamic_batch: bool = False) -> Path:
    """Write `module` (eval mode) as ONNX at `path`, atomically, checked; input `input`, output `logits`."""
    import onnx

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(onnx_model(module, example, dynamic_batch=dynamic_batch))
        onnx.checker.check_model(str(tmp))
    return path


def convert_fp32(module: nn.Module, example: torch.Tensor, path: str | os.PathLike) -> Path:
    """Convert `module` (eval mode, batch of `example`'s shape) to an fp32 `.tflite` at `path`."""
    try:
        import litert_torch
    except ImportError:
        raise ExportError("TFLite export needs litert-torch: pip install 'ofa-deploy[tflite]'") from None
    path = Path(path)
    module = module.eval()
    with torch.no_grad(), cia_ops_listed_once():
        edge = litert_torch.convert(module, (example.contiguous(),))
    with atomic_path(path) as tmp:
        edge.export(str(tmp))
    return path


# Where torch 2.13 looks up `_collect_all_valid_cia_ops` (each module imported it by name).
_CIA_LOOKUPS = ("torch._export.utils", "torch.export.exported_program", "torch.export.decomp_utils")


@contextlib.contextmanager
def cia_ops_listed_once() -> Iterator[None]:
    """Within one conversion, list torch's CompositeImplicitAutograd operators once instead of on every
    `run_decompositions`.

    Why: litert-torch runs `ExportedProgram.run_decompositions` four times per model, and every run walks
    all of `torch.ops` to list the CIA operators it may keep (`torch._export.utils._collect_all_valid_cia_ops`).
    Listing them once per conversion, measured on this CPU (12 demo blocks and the largest demo subnet at r 24,
    twice each way): a block's conversion 1.46 -> 1.23 s (-16 %), a whole subnet's 14.0 -> 13.3 s; `profile`
    converts every block of a space. torch does not cache the list because a custom operator may be registered
    between two exports; none is registered during one conversion, so the list is cached for the duration of
    this context only, and the original function is put back after it.
    The converted files are byte-identical (tests/test_convert_cia.py). If a torch version moves or renames
    the function, this does nothing."""
    import importlib

    try:
        modules = [importlib.import_module(name) for name in _CIA_LOOKUPS]
        original = modules[0]._collect_all_valid_cia_ops
    except (ImportError, AttributeError):
        yield
        return
    if not all(getattr(m, "_collect_all_valid_cia_ops", None) is original for m in modules):
        yield  # not the layout this was written for
        return
    once = functools.cache(original)
    for m in modules:
        m._collect_all_valid_cia_ops = once
    try:
        yield
    finally:
        for m in modules:
            m._collect_all_valid_cia_ops = original
