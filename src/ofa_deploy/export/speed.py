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


def _open(path: Path, threads: int):
    from ..devices.local import LiteRTBackend, OnnxRuntimeBackend
    from ..runtime.models import open_model

    model = open_model(path)
    shape = list(model.input.shape)
    shape[0] = shape[0] or 1
    ref = SimpleNamespace(onnx_path=path, onnx_bytes=None, tflite_path=path, input_shape=tuple(shape))
    backend = OnnxRuntimeBackend(threads) if path.suffix == ".onnx" else LiteRTBackend(threads)
    return lambda: backend.open(ref)


def compare_speed(int8: str | os.PathLike, fp32: str | os.PathLike, threads: int = 1,
                  protocol: Protocol = QUICK) -> dict[str, Any]:
    """Median ms of both files (same runtime, same session), and their ratio."""
    paths = {"int8": Path(int8), "fp32": Path(fp32)}
    opens = {name: _open(p, threads) for name, p in paths.items()}
    stats = measure(list(paths), lambda name: opens[name](), protocol)
    i8, f32 = stats["int8"]["median"], stats["fp32"]["median"]
    runtime = "onnxruntime" if paths["int8"].suffix == ".onnx" else "LiteRT (XNNPACK)"
    return {"int8_ms": i8, "fp32_ms": f32, "speedup": f32 / i8 if i8 > 0 else None, "runtime": runtime,
            "threads": threads, "protocol": protocol.to_dict()}


def verdict(speed: dict[str, Any], int8_bytes: int, fp32_bytes: int) -> str | None:
    """None when int8 is faster; else one line with the measured numbers."""
    if speed["int8_ms"] < speed["fp32_ms"]:
        return None
    smaller = f"only smaller ({int8_bytes / fp32_bytes:.2f}x the size)" if int8_bytes < fp32_bytes else "not smaller"
    return (f"int8 is not faster than fp32 for this subnet on this CPU: {speed['int8_ms']:.3f} ms against "
            f"{speed['fp32_ms']:.3f} ms ({speed['runtime']}, batch 1, {speed['threads']} thread); it is {smaller}")


__all__ = ["QUICK", "compare_speed", "verdict"]
