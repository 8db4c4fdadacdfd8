"""Is the int8 file faster than the fp32 file of the same format? Measured at export (issue 29, item 2).

An int8 file only pays if it runs faster (or is smaller) where it ships. Both files are timed here
with the profiling protocol (`latency.protocol`: fresh sessions, interleaved, median; batch 1,
1 thread: onnxruntime for ONNX, the LiteRT interpreter with its default XNNPACK delegate for
TFLite), short (2 sessions of at most 100 runs each). When int8 is not faster, `verdict` gives the
one line export prints, with the measured numbers; the figures go into the report either way.
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

    from ..devices.local import OnnxRuntimeBackend
    from ..runtime.models import TfliteModel, open_model

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


def verdict(speed: dict[str, Any], int8_bytes: int, fp32_bytes: int) -> str | None:
    """None when int8 is faster (and XNNPACK is not beaten by the builtin kernels); else one line with the
    measured numbers."""
    b = speed.get("builtin")
    builtin = (f"without XNNPACK (delegate: none) int8 {b['int8_ms']:.3f} ms, fp32 {b['fp32_ms']:.3f} ms "
               "(XNNPACK's 7x7 depthwise is slow here)") if b else ""
    beaten = bool(b) and min(b.values()) < 0.8 * min(speed["int8_ms"], speed["fp32_ms"])
    if speed["int8_ms"] < speed["fp32_ms"]:
        if not beaten:
            return None
        return (f"this subnet runs faster without XNNPACK on this CPU: with it int8 {speed['int8_ms']:.3f} ms, fp32 "
                f"{speed['fp32_ms']:.3f} ms; {builtin}")
    smaller = f"only smaller ({int8_bytes / fp32_bytes:.2f}x the size)" if int8_bytes < fp32_bytes else "not smaller"
    line = (f"int8 is not faster than fp32 for this subnet on this CPU: {speed['int8_ms']:.3f} ms against "
            f"{speed['fp32_ms']:.3f} ms ({speed['runtime']}, batch 1, {speed['threads']} thread); it is {smaller}")
    return line + (f"; {builtin}" if beaten else "")


__all__ = ["QUICK", "compare_speed", "verdict"]
