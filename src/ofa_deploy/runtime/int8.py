"""onnxruntime static int8 quantisation (QDQ, per-channel int8 weights, uint8 activations, min/max):
the one ONNX int8 recipe, shared by `export.int8` (a subnet shipped int8) and `latency.int8` (the
block models and whole subnets an int8 latency table times), so that the table times the very
graph form the export ships.

Why these settings (issue 29): QDQ is the format onnxruntime fuses into QLinear kernels on x86 and
ARM; U8S8 (uint8 activations, int8 weights) is the fast x86 form; per-channel weights keep the
depthwise convolutions' accuracy; plain min/max calibration over the representative inputs.
`quantize_static` needs files (it writes an augmented model to calibrate), so bytes go through a
temporary folder.

Every model is prepared first (`prepare_onnx`: `onnxruntime.quantization.shape_inference.
quant_pre_process`, shape inference + onnxruntime's basic graph optimisation), as onnxruntime's own
quantiser asks on every call. Measured why (issue 29, w1.0 space at r 160, onnxruntime's optimised
graph dumped with `SessionOptions.optimized_model_filepath`): torch's ONNX exporter de-duplicates
equal initializers (e.g. the zero biases of convs with the supernet's BN statistics) and feeds them
through `Identity` nodes; `quantize_static` quantises a bias only when it is an initializer, so those
convs kept a float bias and onnxruntime's QDQ fusion could not turn them into `QLinearConv`: they ran
as float `DQ -> Conv -> Q` without the NCHWc layout, with transposes around them, and the int8 file
was 0.66x as fast as fp32. Prepared, the `Identity` nodes are folded (`quantize_static` then
duplicates a shared bias per consumer) and HardSwish becomes HardSigmoid * x, whose multiply runs as
`QLinearMul`: every conv is fused, 1.3-2.5x faster than fp32 in the same run under load. QOperator,
S8S8, U8U8, reduce_range and per-tensor weights were measured too and were not faster
(`benchmarks/bench_int8.py --parts D`); this CPU has AVX512-VNNI, whose u8 x s8 dot product is the
U8S8 form.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

RECIPE = ("onnxruntime quant_pre_process + quantize_static: QDQ, per-channel int8 weights, uint8 activations, "
          "MinMax")


def prepare_onnx(model: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the fp32 ONNX file `model` prepared for quantisation at `out` (see the module docstring)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .quiet import captured_output

    with captured_output():
        quant_pre_process(str(model), str(out))
    return Path(out)


def quantize_onnx(model: str | os.PathLike, calibration: Iterable[np.ndarray], out: str | os.PathLike,
                  input_name: str, nodes_to_exclude: Sequence[str] | None = None) -> Path:
    """Write the int8 QDQ model of the fp32 ONNX file `model` (prepared: `prepare_onnx`) at `out`
    (atomically); `calibration` yields float32 inputs of the model's input shape for the input called
    `input_name`."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from ..errors import ExportError
    from ..fsio import atomic_path
    from .quiet import captured_output

    samples = [np.ascontiguousarray(x, dtype=np.float32) for x in calibration]
    if not samples:
        raise ExportError("int8 calibration needs at least one input")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(samples)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {input_name: x}

    # captured: the quantiser logs a pre-processing hint on every call and the calibration session
    # its C++ graph clean-up, neither of which the user can act on
    with atomic_path(out, keep_suffix=True) as tmp, captured_output():
        quantize_static(str(model), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(nodes_to_exclude or []) or None,
                        calibrate_method=CalibrationMethod.MinMax)
        int8_weights_of_float_ops(tmp)
    return Path(out)


def quantize_onnx_bytes(model: bytes, calibration: Iterable[np.ndarray], input_name: str) -> bytes:
    """`quantize_onnx` of a model held in memory (a block model, a stitched subnet)."""
    with tempfile.TemporaryDirectory(prefix="ofa-int8-") as tmp:
        src = Path(tmp) / "fp32.onnx"
        src.write_bytes(model)
        src = prepare_onnx(src, Path(tmp) / "prepared.onnx")
        return quantize_onnx(src, calibration, Path(tmp) / "int8.onnx", input_name).read_bytes()


def int8_weights_of_float_ops(model: str | os.PathLike) -> int:
    """Store the weights of the Conv and Gemm nodes `quantize_static` left float (`nodes_to_exclude`:
    the accuracy fallback) as per-channel symmetric int8, in place; returns how many. Without this a
    fallen-back layer kept its fp32 weights, and the file most of its size: the demo's middle subnet
    with six ops kept float (among them the 1x1 `feature_mix_layer`) was 0.60 of fp32, 0.30 with them.

    Their activations stay float, which is what the fallback is for (it ranks ops by their output's
    quantisation error); the weights are rounded to int8 like every quantised weight, and the accuracy
    search measures the drop on this very form. Stored as `Cast(int8 -> float) * scale`, not as a
    `DequantizeLinear`: onnxruntime folds a `Cast`/`Mul` of constants when a session opens, so the op
    runs as a plain float op with constant weights (its NCHWc form: the optimised graph was checked
    to be the same), while it keeps a `DequantizeLinear` (which it reserves for QDQ fusion) as a node
    that dequantises the weights on every run and blocks the NCHWc layout (0.5 -> 0.67 ms there)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model))
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    readers: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    done = 0
    nodes = []
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type in ("Conv", "Gemm") and len(n.input) > 1 else None
        if w is None or w.data_type != onnx.TensorProto.FLOAT or readers[w.name] != 1:
            nodes.append(n)
            continue
        a = numpy_helper.to_array(w)
        trans_b = next((x.i for x in n.attribute if x.name == "transB"), 0)
        axis = 0 if n.op_type == "Conv" or trans_b else 1
        peak = np.abs(a).max(axis=tuple(d for d in range(a.ndim) if d != axis))
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        shape = [1] * a.ndim
        shape[axis] = -1
        q = np.clip(np.rint(a / scale.reshape(shape)), -127, 127).astype(np.int8)
        base = w.name
        g.initializer.remove(w)
        g.initializer.extend([numpy_helper.from_array(q, f"{base}_i8"),
                              numpy_helper.from_array(scale.reshape(shape), f"{base}_i8_scale")])
        nodes.append(helper.make_node("Cast", [f"{base}_i8"], [f"{base}_i8_float"], to=onnx.TensorProto.FLOAT))
        nodes.append(helper.make_node("Mul", [f"{base}_i8_float", f"{base}_i8_scale"], [f"{base}_dq"]))
        n.input[1] = f"{base}_dq"
        nodes.append(n)
        done += 1
    if done:
        del g.node[:]
        g.node.extend(nodes)
        onnx.save(m, str(model))
    return done


__all__ = ["RECIPE", "int8_weights_of_float_ops", "prepare_onnx", "quantize_onnx", "quantize_onnx_bytes"]
