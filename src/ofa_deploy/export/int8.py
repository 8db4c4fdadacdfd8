"""Accuracy-controlled int8, for TFLite (ai-edge-quantizer) and ONNX (onnxruntime static QDQ) alike.

What NNCF's accuracy-aware PTQ does, reduced to what these tools expose (issue 29, item 3):
1. quantise with every op int8 (except the ops kept float for speed, `quantize.default_float_ops`),
   calibrated on real images (`CALIBRATION_IMAGES`, min/max);
2. measure the accuracy drop on labelled held-out images (the test split the export verifies on,
   disjoint from calibration's validation split);
3. if the drop exceeds `max_drop`, rank the quantised ops by their own quantisation error (the SQNR
   of each op's fp32 output against that output quantised with the int8 model's scale and zero point,
   on a few calibration images: a local sensitivity, as onnxruntime's `qdq_loss_debug` and AEQ's
   `validate` report per tensor), and fall back to float the fewest most-sensitive ops that bring
   the drop within the bound: 1, 2, 4... ops until it holds, then a bisection between the last two
   counts (O(log n) quantisations, each a few seconds);
4. every try that holds on the first calibration is quantised once more on a second, disjoint
   calibration set with the same float ops (stability, as AEQ recommends); a try passes only when
   both drops are within the bound, so the fallback continues until both calibrations hold. The
   file kept is the first calibration's; verification checks both drops (`verify.int8_limits`), so
   a subnet where even all ranked ops float cannot hold both fails with one line.
Without labelled images (no dataset) the drop cannot be measured: step 1 only, and the report says so.

The per-format parts (quantise with some ops kept float; rank the ops) are the `Tflite` and `Onnx`
quantisers below; the search is format-free.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError
from .quantize import FloatOp, default_float_ops, model_ops, quantize_int8

SENSITIVITY_IMAGES = 16


def _sqnr(x: np.ndarray, y: np.ndarray) -> float:
    noise = float(((x.astype(np.float64) - y) ** 2).sum())
    signal = float((x.astype(np.float64) ** 2).sum())
    return 10 * np.log10(signal / noise) if noise > 0 and signal > 0 else (np.inf if noise == 0 else -np.inf)


def _fake_quant(x: np.ndarray, scale: np.ndarray | float, zero: np.ndarray | int, lo: int, hi: int) -> np.ndarray:
    return (np.clip(np.round(x / scale + zero), lo, hi) - zero) * scale


class TfliteQuantiser:
    """ai-edge-quantizer on the fp32 `.tflite`; ops kept float by output tensor name (AEQ scope)."""

    suffix = ".tflite"

    def __init__(self, fp32: Path):
        self.fp32 = fp32
        self.speed_float = default_float_ops(fp32.read_bytes())

    def quantize(self, calib: Sequence[np.ndarray], out: Path, keep: Sequence[FloatOp]) -> Path:
        return quantize_int8(self.fp32, calib, out, [*self.speed_float, *keep])

    def close(self) -> None:
        pass

    def finish(self, int8: Path) -> None:
        """Short tensor names and shared vectors in the file kept (after the search, which reads the names):
        `export.tflite_compact`."""
        from .tflite_compact import compact_int8_tflite

        compact_int8_tflite(int8)

    def ranked_ops(self, int8: Path, calib: Sequence[np.ndarray]) -> list[tuple[FloatOp, float]]:
        """Quantised ops, most sensitive (lowest local SQNR) first."""
        from ..runtime.sessions import interpreter_class

        cls = interpreter_class()
        ref = cls(model_path=str(self.fp32), num_threads=1, experimental_preserve_all_tensors=True)
        ref.allocate_tensors()
        q = cls(model_path=str(int8), num_threads=1)
        qparams = {t["name"]: t for t in q.get_tensor_details() if t["dtype"] == np.int8}
        ops = [op for op in model_ops(self.fp32.read_bytes()) if op["name"] in qparams]
        values: dict[str, list[np.ndarray]] = {op["name"]: [] for op in ops}
        index = {t["name"]: t["index"] for t in ref.get_tensor_details()}
        inp = ref.get_input_details()[0]["index"]
        for x in calib[:SENSITIVITY_IMAGES]:
            ref.set_tensor(inp, np.ascontiguousarray(x, dtype=np.float32))
            ref.invoke()
            for op in ops:
                values[op["name"]].append(ref.get_tensor(index[op["name"]]).copy())
        ranked = []
        for op in ops:
            t = qparams[op["name"]]
            qp = t.get("quantization_parameters", {})
            scales, zeros = qp.get("scales", np.array([])), qp.get("zero_points", np.array([]))
            if scales.size != 1:
                continue  # per-channel activations do not occur; skip rather than guess the axis
            v = np.concatenate([a.ravel() for a in values[op["name"]]])
            ranked.append((FloatOp(op["kind"], op["name"], "accuracy (most sensitive ops)"),
                           _sqnr(v, _fake_quant(v, float(scales[0]), int(zeros[0]), -128, 127))))
        return sorted(ranked, key=lambda r: r[1])


class OnnxQuantiser:
    """onnxruntime `quantize_static`: QDQ format, per-channel int8 weights, uint8 activations (U8S8,
    the fast x86 form), min/max calibration; ops kept float by node name (`nodes_to_exclude`).

    The fp32 file is first prepared (`runtime.int8.prepare_onnx`: why, there), and everything after
    (quantisation, ranking, exclusion by node name) works on that prepared model, so the node names
    the search excludes are the prepared model's."""

    suffix = ".onnx"

    def __init__(self, fp32: Path):
        import tempfile

        from ..runtime.int8 import prepare_onnx

        self.fp32 = fp32
        self.speed_float: list[FloatOp] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="ofa-int8-")
        self.source = prepare_onnx(fp32, Path(self._tmp.name) / "prepared.onnx")

    def close(self) -> None:
        self._tmp.cleanup()

    def finish(self, int8: Path) -> None:
        """Shorten the names quantisation invented, in the file kept (after the search, which reads them).

        `quantize_static` names every tensor it adds after the tensor it quantises
        (`<name>_DequantizeLinear_Output`, `<name>_scale`, `<name>_zero_point`, `<name>_quantized`) and
        every Q/DQ node likewise: on the demo subnets these names were 8 % of the fp32 file's size (int8
        file 0.35 of fp32, weights alone 0.25). Every tensor but the graph's input and output becomes
        `q0, q1...` (the fp32 model's own tensor names, `/blocks.3/conv/.../Relu_output_0`, were another
        17 kB, 0.5 % of the fp32 file, on the demo's middle subnet); the nodes of the fp32 model keep their
        names (the report's ops kept float name them), the added nodes go unnamed; shape annotations
        (which onnxruntime recomputes) are dropped. Same graph, same outputs; 0.35 -> 0.30 of fp32 there."""
        import onnx

        from ..fsio import atomic_path

        src = onnx.load(str(self.source)).graph
        known = {i.name for i in src.input} | {o.name for o in src.output}
        known_nodes = {n.name for n in src.node}
        model = onnx.load(str(int8))
        g = model.graph
        names: dict[str, str] = {}

        def short(t: str) -> str:
            return t if not t or t in known else names.setdefault(t, f"q{len(names)}")

        for n in g.node:
            n.input[:] = [short(t) for t in n.input]
            n.output[:] = [short(t) for t in n.output]
            if n.name not in known_nodes:
                n.name = ""
        for t in g.initializer:
            t.name = short(t.name)
        del g.value_info[:]
        with atomic_path(int8, keep_suffix=True) as tmp:
            onnx.save(model, str(tmp))

    def quantize(self, calib: Sequence[np.ndarray], out: Path, keep: Sequence[FloatOp]) -> Path:
        from ..runtime.convert import INPUT_NAME
        from ..runtime.int8 import quantize_onnx

        return quantize_onnx(self.source, calib, out, INPUT_NAME, [op.name for op in keep])

    def ranked_ops(self, int8: Path, calib: Sequence[np.ndarray]) -> list[tuple[FloatOp, float]]:
        import onnx
        from onnx import numpy_helper

        from ..runtime.sessions import onnx_session

        qmodel = onnx.load(str(int8))
        inits = {i.name: numpy_helper.to_array(i) for i in qmodel.graph.initializer}
        fmodel = onnx.load(str(self.source))
        producer = {o: n for n in fmodel.graph.node for o in n.output}
        quantised = {}  # activation tensor -> (scale, zero point)
        for n in qmodel.graph.node:
            if n.op_type == "QuantizeLinear" and n.input[0] in producer and n.input[0] not in inits:
                quantised[n.input[0]] = (inits[n.input[1]], inits[n.input[2]])
        names = sorted(quantised)
        del fmodel.graph.output[:]
        fmodel.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in names)
        sess = onnx_session(fmodel.SerializeToString())
        feed = sess.get_inputs()[0].name
        values: dict[str, list[np.ndarray]] = {t: [] for t in names}
        for x in calib[:SENSITIVITY_IMAGES]:
            for t, v in zip(names, sess.run(names, {feed: np.ascontiguousarray(x, dtype=np.float32)})):
                values[t].append(v)
        ranked = []
        for t in names:
            scale, zero = quantised[t]
            lo, hi = (0, 255) if zero.dtype == np.uint8 else (-128, 127)
            v = np.concatenate([a.ravel() for a in values[t]])
            node = producer[t]
            ranked.append((FloatOp(node.op_type, node.name, "accuracy (most sensitive ops)"),
                           _sqnr(v, _fake_quant(v, float(scale), int(zero), lo, hi))))
        return sorted(ranked, key=lambda r: r[1])


def quantiser(fp32: Path):
    if fp32.suffix == ".tflite":
        return TfliteQuantiser(fp32)
    if fp32.suffix == ".onnx":
        return OnnxQuantiser(fp32)
    raise ExportError(f"{fp32}: no int8 quantiser for {fp32.suffix!r} files")


def accuracy(model_path: Path, x: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    from ..runtime.models import open_model

    logits = open_model(model_path)(x)
    return 100.0 * float((logits.argmax(1) == labels).mean()), logits


def accuracy_controlled(fp32: str | os.PathLike, calib: Sequence[np.ndarray], calib2: Sequence[np.ndarray],
                        x: np.ndarray, labels: np.ndarray | None, reference_accuracy: float | None,
                        max_drop: float, out: str | os.PathLike,
                        on_step: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Write the int8 model at `out` with the fewest ops kept float for `drop <= max_drop` on (x, labels);
    returns the record of what was done (ops kept float, drop, tries, second calibration's drop)."""
    fp32, out = Path(fp32), Path(out)
    q = quantiser(fp32)
    work = out.with_name(f".{out.name}.try{q.suffix}")

    tries: list[dict[str, Any]] = []
    second_work = out.with_name(f".{out.name}.second{q.suffix}")
    measured = labels is not None and reference_accuracy is not None
    stability = measured and len(calib2) > 0

    def trial(keep: Sequence[FloatOp], dest: Path) -> tuple[bool, float | None, float | None]:
        """Quantise with `keep` float on the first calibration (the file, at `dest`) and, when it holds,
        on the second one: (both drops within the bound, first drop, second drop)."""
        q.quantize(calib, dest, keep)
        if not measured:
            return True, None, None
        acc, _ = accuracy(dest, x, labels)
        d1, d2 = reference_accuracy - acc, None
        if d1 <= max_drop and stability:
            q.quantize(calib2, second_work, keep)
            d2 = reference_accuracy - accuracy(second_work, x, labels)[0]
        tries.append({"kept_float": len(keep), "accuracy": acc, "drop": d1, "second_drop": d2})
        return d1 <= max_drop and (d2 is None or d2 <= max_drop), d1, d2

    try:
        on_step(f"quantising to int8 (calibration on {len(calib)} images"
                + (f"; stability on {len(calib2)} other images)" if stability else ")"))
        ok, drop, second = trial([], out)
        keep: list[FloatOp] = []
        ranked: list[tuple[FloatOp, float]] = []
        if not ok:
            ranked = q.ranked_ops(out, calib)
            why = (f"int8 drop {drop:.2f} points" if drop > max_drop
                   else f"second calibration's drop {second:.2f} points")
            on_step(f"{why} > {max_drop:g}: falling back to float, most sensitive of {len(ranked)} ops first, "
                    "until both calibrations hold")
            ok_k, bad_k, k = None, 0, 1

            def accept(k: int, d1: float | None, d2: float | None) -> None:
                nonlocal drop, second
                work.replace(out)  # the smallest passing try so far becomes the result
                drop, second = d1, d2

            while k <= len(ranked):  # doubling until the bound holds on both calibrations
                passed, d1, d2 = trial([r[0] for r in ranked[:k]], work)
                if passed:
                    ok_k = k
                    accept(k, d1, d2)
                    break
                bad_k, k = k, min(2 * k, len(ranked)) if k < len(ranked) else len(ranked) + 1
            if ok_k is None:
                ok_k = len(ranked)  # everything float that can be: verification's rows say it fails
                if ranked:
                    t = tries[-1]
                    accept(ok_k, t["drop"], t["second_drop"])
            while ok_k - bad_k > 1:  # bisection: the fewest ops
                mid = (ok_k + bad_k) // 2
                passed, d1, d2 = trial([r[0] for r in ranked[:mid]], work)
                if passed:
                    ok_k = mid
                    accept(mid, d1, d2)
                else:
                    bad_k = mid
            keep = [r[0] for r in ranked[:ok_k]]
        q.finish(out)
    finally:
        work.unlink(missing_ok=True)
        second_work.unlink(missing_ok=True)
        q.close()
    sensitivity = {r[0].name: round(r[1], 2) for r in ranked}
    return {
        "max_drop": max_drop,
        "drop": drop,
        "kept_float": [op.to_dict() for op in [*q.speed_float, *keep]],
        "kept_float_for_accuracy": len(keep),
        "kept_float_for_speed": len(q.speed_float),
        "quantised_ops_ranked": len(ranked),
        "sensitivity_sqnr_db": {k: sensitivity[k] for k in [op.name for op in keep]},
        "tries": tries,
        "second_calibration_drop": second,
        "note": None if labels is not None else "no labelled images: the drop is not measured, no op was kept "
                                                 "float for accuracy (give --data)",
    }


def short_name(name: str) -> str:
    """The readable tail of a converter's tensor name ('...ResidualBlock_3/...Conv2d_conv;1' -> 'ResidualBlock_3/...')."""
    parts = [p.rsplit(".", 1)[-1] for p in re.split(r"[/;]+", name) if p]
    return "/".join(parts[-3:]) if parts else name


__all__ = ["OnnxQuantiser", "TfliteQuantiser", "accuracy", "accuracy_controlled", "quantiser", "short_name"]
