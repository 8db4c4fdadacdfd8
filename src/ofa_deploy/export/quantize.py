"""Post-training quantisation of an fp32 `.tflite` with ai-edge-quantizer (AEQ).

Why AEQ on the converted file rather than PT2E before conversion (TFLITE_NOTES): it adds ~2 s to
the fp32 conversion instead of a second 20-30 s conversion, and gives the fastest int8 model.
Two settings from the notes matter:
- calibration tracks plain min/max (`min_max_update`); `Quantizer.calibrate` keeps a moving
  average of per-sample ranges, which clips the logits with batch-1 calibration (point 6);
- HARD_SWISH stays float: XNNPACK does not delegate int8 HARD_SWISH, which splits the graph into
  22 partitions and makes int8 no faster than fp32 (point 5).
Full-integer models get int8 input and output; `runtime` (de)quantises them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import ExportError
from ..fsio import atomic_write_bytes

CALIBRATION_IMAGES = 100


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


def quantize_int8(fp32_path: str | os.PathLike, calibration: Iterable[np.ndarray], path: str | os.PathLike) -> Path:
    """Full-integer int8 (weights and activations) from an fp32 `.tflite`; `calibration` yields
    float32 inputs of the model's input shape (batch 1)."""
    algorithm_manager, calibrator, qtyping, quantizer, recipe, recipe_manager, qsv_utils = _aeq()
    model = Path(fp32_path).read_bytes()
    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe.static_wi8_ai8())
    manager.add_quantization_config(regex=".*", operation_name=qtyping.TFLOperationName.HARD_SWISH,
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
