"""What a user can ask `export` for: a format and a precision, checked before anything runs.

ONNX is fp32 or full-integer int8 (onnxruntime static QDQ); TFLite is fp32, full-integer int8
or dynamic-range int8. Each target names its file suffix and the
tolerances its verification applies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from ..errors import ExportError
from .verify import FP32_LIMITS, QUANTIZED_LIMITS, Limit

FORMATS = ("onnx", "tflite")


@dataclass(frozen=True)
class Target:
    format: str  # onnx | tflite
    precision: str  # fp32 | int8 | dynamic-range
    dynamic_batch: bool = False

    @property
    def suffix(self) -> str:
        tag = {"fp32": "", "int8": ".int8", "dynamic-range": ".drq"}[self.precision]
        return f"{tag}.{self.format}"

    @property
    def label(self) -> str:
        name = {"onnx": "ONNX", "tflite": "TFLite"}[self.format]
        return f"{name} {self.precision}" + (" (dynamic batch)" if self.dynamic_batch else "")

    @property
    def quantized(self) -> bool:
        return self.precision != "fp32"

    @property
    def limits(self) -> tuple[Limit, ...]:
        return QUANTIZED_LIMITS if self.quantized else FP32_LIMITS


def choose_target(fmt: str, int8: bool = False, dynamic_range: bool = False, dynamic_batch: bool = False) -> Target:
    """The target of the command-line options; `ExportError` for combinations that do not exist."""
    fmt = fmt.lower().strip()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose --format onnx or --format tflite")
    if int8 and dynamic_range:
        raise ExportError("choose one of --int8 (full integer) and --dynamic-range (int8 weights only)")
    if fmt == "onnx" and dynamic_range:
        raise ExportError("--dynamic-range is TFLite only; ONNX int8 is full-integer (--int8)")
    if fmt == "tflite" and dynamic_batch:
        raise ExportError("--dynamic-batch applies to ONNX only; TFLite files have batch 1")
    precision = "int8" if int8 else "dynamic-range" if dynamic_range else "fp32"
    return Target(fmt, precision, dynamic_batch)


# (module, pip distribution, what needs it) per format; quantised targets add their quantiser
_TOOLS = {
    "onnx": (("onnx", "onnx", "ONNX export"), ("onnxruntime", "onnxruntime", "ONNX verification")),
    "tflite": (("litert_torch", "litert-torch", "TFLite export"), ("ai_edge_litert", "ai-edge-litert",
                                                                      "TFLite verification")),
}
_QUANTISERS = {
    "onnx": ("onnxruntime.quantization", "onnxruntime", "ONNX int8 quantisation"),
    "tflite": ("ai_edge_quantizer", "ai-edge-quantizer", "TFLite quantisation"),
}


def require_tools(target: Target) -> None:
    """Every package the target needs is importable, checked before any work (issue 29: the missing-extra
    error came after ~40 s of BN recalibration). `find_spec` only locates the package: no import cost."""
    needs = list(_TOOLS[target.format]) + ([_QUANTISERS[target.format]] if target.quantized else [])
    for module, dist, why in needs:
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:  # a dotted name whose parent is missing
            found = False
        if not found:
            extra = "'ofa-deploy[tflite]'" if target.format == "tflite" else dist
            raise ExportError(f"{why} needs {dist}, which is not installed: pip install {extra}")


def output_path(target: Target, subnet_path: str | os.PathLike, out: str | os.PathLike | None) -> Path:
    """`--out` (a file, or a folder that gets the default name: an existing one, or a name without a
    suffix), else `<subnet stem><suffix>` in the working directory. A search's default subnet name
    starts with its time (`20261206-061458_cpu_lat0p4ms.json`); the file is named without it
    (`cpu_lat0p4ms.onnx`): what it is, not when it was searched."""
    import re

    name = re.sub(r"^\d{8}-\d{6}_", "", Path(subnet_path).stem) + target.suffix
    if out is None:
        return Path(name)
    p = Path(out)
    if p.is_dir() or not p.suffix:
        return p / name
    if p.suffix != f".{target.format}":
        raise ExportError(f"--out {p} does not end in .{target.format}; name the {target.label} file "
                          f"*.{target.format} or give a folder")
    return p
