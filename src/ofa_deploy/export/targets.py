"""What a user can ask `export` for: a format and a precision, checked before anything runs.

ONNX is fp32 only (onnxruntime's int8 runs slower than its fp32 here: TFLITE_NOTES); TFLite is
fp32, full-integer int8 or dynamic-range int8. Each target names its file suffix and the
tolerances its verification applies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    if fmt == "onnx" and (int8 or dynamic_range):
        raise ExportError("ONNX export is fp32 only; use --format tflite with --int8 or --dynamic-range")
    if fmt == "tflite" and dynamic_batch:
        raise ExportError("--dynamic-batch applies to ONNX only; TFLite files have batch 1")
    precision = "int8" if int8 else "dynamic-range" if dynamic_range else "fp32"
    return Target(fmt, precision, dynamic_batch)


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
