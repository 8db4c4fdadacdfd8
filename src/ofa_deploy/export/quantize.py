"""Post-training quantisation of an fp32 `.tflite` with ai-edge-quantizer (AEQ).

Why AEQ on the converted file rather than PT2E before conversion (TFLITE_NOTES): it adds ~2 s to
the fp32 conversion instead of a second 20-30 s conversion, and gives the fastest int8 model.
Two settings from the notes matter:
- calibration tracks plain min/max (`min_max_update`); `Quantizer.calibrate` keeps a moving
  average of per-sample ranges, which clips the logits with batch-1 calibration (point 6);
- HARD_SWISH stays float: XNNPACK does not delegate int8 HARD_SWISH, which splits the graph into
  22 partitions and makes int8 no faster than fp32 (point 5);
- 7x7 depthwise convolutions stay float (issue 29, item 2). Measured on this CPU with ai-edge-litert
  2.3 (1 thread, XNNPACK): XNNPACK's int8 7x7 depthwise kernel is pathologically slow on the small
  feature maps of these nets. The demo space's largest subnet (k7 everywhere, r 32) ran its int8
  file in 72 ms against 1.97 ms for fp32; with the 20 7x7 depthwise convs kept float, 1.78 ms. A
  random subnet: 2.39 ms int8, 0.32 ms fp32, 0.27 ms with its 7x7 convs float. 3x3 and 5x5
  depthwise convs are fast in int8 and stay int8. (XNNPACK's fp32 7x7 depthwise is slow too, 3x
  the builtin kernel; that is the runtime's, and `export.speed` says so when int8 cannot win.)
Other ops can be kept float by name (`keep_float`: the accuracy fallback of `export.int8`).
An op kept float that has weights (conv, depthwise conv, fully connected) keeps them as per-channel
int8 with an explicit DEQUANTIZE (AEQ's weight-only config): it computes in float, as it must, but the
file no longer carries its fp32 weights (issue 29's size target). Measured on the w1.0 space at r 160
with six depthwise convs and the classifier kept float: 0.283 of fp32 instead of 0.494, one XNNPACK
partition either way, same speed within noise (XNNPACK dequantises static weights once, at delegation).
Full-integer models get int8 input and output; `runtime` (de)quantises them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExportError
from ..fsio import atomic_write_bytes

CALIBRATION_IMAGES = 300  # issue 29: >= 300 real images (AEQ recommends 100-500)
SLOW_INT8_KERNELS = (7,)  # depthwise kernel sizes kept float (see above)
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")  # kept float with int8 weights


@dataclass(frozen=True)
class FloatOp:
    """An op of the fp32 model that the int8 model keeps in float: its kind, output tensor name, and why."""

    kind: str
    name: str
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "why": self.why}


def model_ops(model: bytes) -> list[dict]:
    """(kind, output tensor name, input shapes) of every op of a `.tflite` model, in execution order."""
    from ..runtime.sessions import open_interpreter

    it = open_interpreter(content=model, threads=None)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    out = []
    for op in it._get_ops_details():  # LiteRT's own op list (no public equivalent)
        outs = [tensors[i]["name"] for i in op["outputs"] if i in tensors]
        shapes = [list(tensors[i]["shape"]) if i in tensors else None for i in op["inputs"]]
        out.append({"kind": op["op_name"], "name": outs[0] if outs else "", "input_shapes": shapes})
    return out


def default_float_ops(model: bytes) -> list[FloatOp]:
    """The ops kept float for speed: every HARD_SWISH, every 7x7 DEPTHWISE_CONV_2D."""
    kept = []
    for op in model_ops(model):
        if op["kind"] == "HARD_SWISH":
            kept.append(FloatOp("HARD_SWISH", op["name"], "XNNPACK has no int8 HARD_SWISH"))
        elif op["kind"] == "DEPTHWISE_CONV_2D" and len(op["input_shapes"]) > 1 and op["input_shapes"][1] \
                and op["input_shapes"][1][1] in SLOW_INT8_KERNELS:
            kept.append(FloatOp("DEPTHWISE_CONV_2D", op["name"], "XNNPACK's int8 7x7 depthwise is slow"))
    return kept


def _aeq():
    try:
        from ai_edge_quantizer import (
            algorithm_manager,
            calibrator,
            qtyping,
            quantizer,
            recipe,
            recipe_manager,
        )
        from ai_edge_quantizer.utils import qsv_utils
    except ImportError:
        raise ExportError("int8 export needs ai-edge-quantizer: pip install 'ofa-deploy[tflite]'") from None
    return algorithm_manager, calibrator, qtyping, quantizer, recipe, recipe_manager, qsv_utils


def _signature(model: bytes) -> tuple[str, str]:
    """(signature key, input name) of a converted model: AEQ's calibration data is keyed by both."""
    from ..runtime.sessions import open_interpreter

    interpreter = open_interpreter(content=model, threads=None)
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        raise ExportError(f"expected one signature in the fp32 model, found {sorted(signatures)}")
    key, sig = next(iter(signatures.items()))
    if len(sig["inputs"]) != 1:
        raise ExportError(f"expected one input in the fp32 model, found {sig['inputs']}")
    return key, sig["inputs"][0]


def _write(data: bytes, path: str | os.PathLike) -> Path:
    return atomic_write_bytes(path, bytes(data))


def quantize_int8(fp32_path: str | os.PathLike, calibration: Iterable[np.ndarray], path: str | os.PathLike,
                  keep_float: Sequence[FloatOp] | None = None) -> Path:
    """Full-integer int8 (weights and activations) from an fp32 `.tflite`; `calibration` yields
    float32 inputs of the model's input shape (batch 1). `keep_float`: the ops left in float
    (default: `default_float_ops`)."""
    algorithm_manager, calibrator, qtyping, quantizer, recipe, recipe_manager, qsv_utils = _aeq()
    model = Path(fp32_path).read_bytes()
    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe.static_wi8_ai8())
    for op in default_float_ops(model) if keep_float is None else keep_float:
        scope = f"^{re.escape(op.name)};"  # AEQ scope: "<output>;"
        if op.kind in WEIGHTED_OPS:  # float compute, int8 weights (see the module docstring)
            manager.add_weight_only_config(regex=scope, operation_name=getattr(qtyping.TFLOperationName, op.kind),
                                           num_bits=8)
        else:
            manager.add_quantization_config(regex=scope, operation_name=getattr(qtyping.TFLOperationName, op.kind),
                                            algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    key, input_name = _signature(model)
    samples = [{input_name: np.ascontiguousarray(x, dtype=np.float32)} for x in calibration]
    if not samples:
        raise ExportError("int8 calibration needs at least one image")
    with warnings.catch_warnings():
        # AEQ keeps every intermediate tensor on purpose; LiteRT warns that this is for debugging.
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors.*")
        cal = calibrator.Calibrator(model, num_threads=1, qsv_update_func=qsv_utils.min_max_update)
        cal.calibrate({key: samples}, manager)
        result = quantizer.Quantizer(model, manager.get_quantization_recipe()).quantize(cal.get_model_qsvs())
    return _write(result.quantized_model, path)


def quantize_dynamic_range(fp32_path: str | os.PathLike, path: str | os.PathLike) -> Path:
    """int8 weights, float activations (no calibration). Smaller, but slower than fp32 under
    XNNPACK, which does not take the hybrid depthwise convs (TFLITE_NOTES, point 7)."""
    _, _, _, quantizer, recipe, _, _ = _aeq()
    model = Path(fp32_path).read_bytes()
    result = quantizer.Quantizer(model, recipe.dynamic_wi8_afp32()).quantize()
    return _write(result.quantized_model, path)
