"""Time an int8 file against the fp32 file of the same format (issue 29, item 2); `export` reports it.

Both files are timed with the profiling protocol (`latency.protocol`: fresh sessions, interleaved,
median; batch 1, 1 thread: onnxruntime for ONNX, the LiteRT interpreter for TFLite, with its default
XNNPACK delegate and, for comparison, without it). Short: 2 sessions of at most 100 runs. It lives
here, not in `export` (which may not import `latency` or `devices`): `export.pipeline.run_export`
takes it as its `timer` (the CLI and the benchmarks pass it); `export.speed.verdict` reads its result.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..latency.protocol import Protocol, measure

QUICK = Protocol(warmup=10, min_runs=20, max_runs=100, sessions=2)


def _open(path: Path, threads: int, xnnpack: bool = True):
    """A function that opens a fresh session of `path` and returns its runner (random N(0,1) input)."""
    import numpy as np

    from ..runtime.models import TfliteModel, open_model
    from .local import OnnxRuntimeBackend

    if path.suffix == ".onnx":
        model = open_model(path)
        shape = list(model.input.shape)
        shape[0] = shape[0] or 1
        ref = SimpleNamespace(onnx_path=path, onnx_bytes=None, input_shape=tuple(shape))
        backend = OnnxRuntimeBackend(threads)
        return lambda: backend.open(ref)

    def open_tflite():  # as `devices.local.LiteRTBackend.open`, with the delegate chosen
        it = TfliteModel(path, threads, xnnpack=xnnpack)
        it.set_input(np.random.default_rng(0).standard_normal(it.input.shape).astype(np.float32))
        return it.interpreter.invoke

    return open_tflite


def compare_speed(int8: str | os.PathLike, fp32: str | os.PathLike, threads: int = 1,
                  protocol: Protocol = QUICK) -> dict[str, Any]:
    """Median ms of both files (same runtime, sessions interleaved), and their ratio. For TFLite also
    without XNNPACK (the builtin kernels): on this CPU XNNPACK's 7x7 depthwise is slower than the builtin
    one, so for k7-heavy subnets the delegate, not the file, decides (`delegate: none` in a descriptor)."""
    paths = {"int8": Path(int8), "fp32": Path(fp32)}
    opens = {name: _open(p, threads) for name, p in paths.items()}
    tflite = paths["int8"].suffix == ".tflite"
    if tflite:
        opens.update({f"{name} builtin": _open(p, threads, xnnpack=False) for name, p in paths.items()})
    stats = measure(list(opens), lambda name: opens[name](), protocol)
    i8, f32 = stats["int8"]["median"], stats["fp32"]["median"]
    out = {"int8_ms": i8, "fp32_ms": f32, "speedup": f32 / i8 if i8 > 0 else None,
           "runtime": "LiteRT (XNNPACK)" if tflite else "onnxruntime", "threads": threads,
           "protocol": protocol.to_dict()}
    if tflite:
        out["builtin"] = {"int8_ms": stats["int8 builtin"]["median"], "fp32_ms": stats["fp32 builtin"]["median"]}
    return out


__all__ = ["QUICK", "compare_speed"]
