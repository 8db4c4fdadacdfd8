"""Loaded exported files: onnxruntime for `.onnx`, the LiteRT interpreter for `.tflite`.

One interface for both (`ExportedModel`: float32 NCHW batch in, float32 logits out) so that
verification and benchmarks never branch on the format. Full-integer TFLite models take int8
input and give int8 output: the input is quantised with the model's own scale and zero point and
the output dequantised, exactly as an app on the device has to. Sessions and interpreters are
opened by `runtime.sessions`, with the settings every timing uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .sessions import onnx_session, open_interpreter


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # None: dynamic
    dtype: str
    scale: float = 0.0  # quantisation (int8 tensors only)
    zero_point: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        if self.dtype == "int8":
            d["quantization"] = {"scale": self.scale, "zero_point": self.zero_point}
        return d


class ExportedModel:
    """A loaded `.onnx` / `.tflite` file; call it with float32 (N, C, H, W) to get (N, classes) logits."""

    input: TensorInfo
    output: TensorInfo

    @property
    def batch(self) -> int | None:
        """Fixed batch size of the file, or None when it is dynamic."""
        return self.input.shape[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        step = self.batch or max(len(x), 1)
        if len(x) % step:
            raise ExportError(f"the model takes batches of {step}; got {len(x)} inputs")
        return np.concatenate([self._run(x[i:i + step]) for i in range(0, len(x), step)])

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class OnnxModel(ExportedModel):
    def __init__(self, path: str | os.PathLike, threads: int = 1):
        self.session = onnx_session(path, threads)
        i, o = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input = TensorInfo(i.name, _dims(i.shape), "float32")
        self.output = TensorInfo(o.name, _dims(o.shape), "float32")

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input.name: x})[0]


class TfliteModel(ExportedModel):
    def __init__(self, path: str | os.PathLike, threads: int = 1, xnnpack: bool = True):
        self.interpreter = open_interpreter(path, threads, xnnpack=xnnpack)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.input, self.output = _tensor_info(self._in), _tensor_info(self._out)

    def set_input(self, x: np.ndarray) -> None:
        self.interpreter.set_tensor(self._in["index"], quantize_input(x, self.input))

    def _run(self, x: np.ndarray) -> np.ndarray:
        self.set_input(x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out["index"])
        if self.output.dtype == "int8":
            y = (y.astype(np.float32) - self.output.zero_point) * self.output.scale
        return y


def quantize_input(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """float32 -> the model's input dtype (int8 with its scale and zero point)."""
    if info.dtype != "int8":
        return x.astype(np.float32, copy=False)
    return np.clip(np.round(x / info.scale + info.zero_point), -128, 127).astype(np.int8)


def _dims(shape: list) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)


def _tensor_info(d: dict[str, Any]) -> TensorInfo:
    scale, zero = d.get("quantization", (0.0, 0))
    return TensorInfo(d["name"], tuple(int(v) for v in d["shape"]), np.dtype(d["dtype"]).name, float(scale), int(zero))


def open_model(path: str | os.PathLike, threads: int = 1) -> ExportedModel:
    """Load an exported file by its suffix."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such file")
    if path.suffix == ".onnx":
        return OnnxModel(path, threads)
    if path.suffix == ".tflite":
        return TfliteModel(path, threads)
    raise ExportError(f"{path}: unknown model file type {path.suffix!r}; expected .onnx or .tflite")
