"""The int8 block models a remote int8 profile ships (ssh: `.onnx` or `.tflite`; adb: `.tflite`).

The remote runner and benchmark_model time whatever file they get, so an int8 table of a board or
a phone only needs the bundle to carry int8 files: each block quantised with its representative
inputs (`latency.int8.Int8Calibration`), ONNX by onnxruntime's static QDQ (`runtime.int8`) and
`.tflite` by ai-edge-quantizer on the block's fp32 conversion (`export.quantize.quantize_int8`, with
the export's ops kept float: HARD_SWISH and 7x7 depthwise), i.e. as `export --int8` ships them.
The fp32 conversion comes from the bundle's conversion cache; the int8 file is cached beside it
(`<cache>/tflite-int8/`), keyed by the fp32 file's digest and the calibration inputs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..latency.block_models import BlockModel, block_models
from ..paths import block_cache_dir
from ..runtime.quiet import captured_output


def bundle_block_models(plan: Any, spec: Any, net: Any, fmt: str, blocks: list[BlockModel] | None,
                        cache: str | os.PathLike | None = None,
                        on_resolution: Callable[[int, str], None] | None = None) -> list[BlockModel] | None:
    """The block models a remote profile's bundle carries: `blocks` as given (None: the bundle
    exports the plan's keys itself), or, for an int8 table (`plan.int8`), the plan's keys quantised."""
    if plan.int8 is None:
        return blocks
    return int8_block_models(plan.todo, spec, net, fmt, plan.int8, cache, on_resolution)


def int8_block_models(todo: dict[int, list[str]], spec: Any, net: Any, fmt: str, int8: Any,
                      cache: str | os.PathLike | None = None,
                      on_resolution: Callable[[int, str], None] | None = None) -> list[BlockModel]:
    """The plan's missing keys as int8 models without modules (`build_bundle(models=...)` sends
    their `onnx_bytes` or copies their `tflite_path`)."""
    root = Path(cache) if cache is not None else block_cache_dir()
    out: list[BlockModel] = []
    for r, keys in todo.items():
        if on_resolution is not None:
            on_resolution(r, f"quantising {len(keys)} {fmt} models to int8")
        models = block_models(net, spec, r, keys)
        if fmt == "onnx":
            int8.quantise_blocks(models, net, spec, r)
        else:
            int8.quantise_blocks(models, net, spec, r, tflite=lambda m, batch: _tflite_int8(m, batch, root))
        for m in models:
            m.module = None
        out += models
    return out


def _tflite_int8(m: BlockModel, batch: np.ndarray, root: Path) -> None:
    from ..export.quantize import quantize_int8
    from .bundle import cached_conversion

    got = cached_conversion(m, "tflite", root / "tflite")
    assert got is not None  # waited for
    fp32 = got[0]
    digest = fp32.stem
    from importlib.metadata import PackageNotFoundError, version

    try:
        aeq = version("ai-edge-quantizer")
    except PackageNotFoundError:
        aeq = "?"
    h = hashlib.sha256(f"{digest}|ai-edge-quantizer {aeq}|{quantize_int8.__module__}".encode())
    h.update(np.ascontiguousarray(batch, dtype=np.float32).tobytes())
    path = root / "tflite-int8" / f"{h.hexdigest()[:32]}.tflite"
    if not path.exists():
        with captured_output():
            quantize_int8(fp32, [batch[i:i + 1] for i in range(len(batch))], path)
    m.tflite_path = str(path)


__all__ = ["int8_block_models"]
