"""The ONNX int8 recipe (issue 29, item 2): every conv of a subnet runs as onnxruntime's fused `QLinearConv`.

A subnet with the default BN statistics has equal (zero) conv biases, which torch's ONNX exporter
de-duplicates and feeds through `Identity` nodes. Quantised as exported, those convs kept a float bias
and stayed float `DequantizeLinear -> Conv -> QuantizeLinear` in onnxruntime's optimised graph (0.66x of
fp32 on the w1.0 space). The recipe prepares the model first (`quant_pre_process`); this pins the
structure, which does not depend on the machine's load the way a timing would; and the short names
of the tensors quantisation adds (`OnnxQuantiser.finish`: size, same outputs).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from ofa_deploy.nn import OFAMobileNetV3
from ofa_deploy.space import SpaceSpec, middle_arch

pytest.importorskip("onnxruntime.quantization")


def optimised_ops(path, tmp_path) -> list[str]:
    """Op types of onnxruntime's optimised graph of `path` (all optimisations, CPU, 1 thread)."""
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


def run(path, x: np.ndarray) -> np.ndarray:
    from ofa_deploy.runtime.sessions import onnx_session

    return onnx_session(path).run(None, {"input": x})[0]


def test_every_conv_of_an_int8_onnx_subnet_is_fused(tmp_path):
    import onnx

    from ofa_deploy.export.int8 import OnnxQuantiser
    from ofa_deploy.runtime.convert import export_onnx

    torch.manual_seed(0)
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    arch = middle_arch(spec, 128)
    fp32 = export_onnx(OFAMobileNetV3(spec).extract(arch).eval(), torch.zeros(1, 3, 128, 128), tmp_path / "f.onnx")
    model = onnx.load(str(fp32))
    inits = {i.name for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    # The premise: some conv biases reach their conv through an Identity node, not as initializers.
    assert any(len(n.input) > 2 and n.input[2] not in inits for n in convs)

    calib = [np.random.default_rng(i).standard_normal((1, 3, 128, 128)).astype(np.float32) for i in range(4)]
    q = OnnxQuantiser(fp32)
    try:
        out = q.quantize(calib, tmp_path / "q.onnx", [])
        before, size_before = run(out, calib[0]), out.stat().st_size
        prepared = onnx.load(str(q.source)).graph
        q.finish(out)  # the names quantisation invented become short
    finally:
        q.close()
    assert size_before - out.stat().st_size > 100_000  # about 180 kB of names on this subnet
    assert np.array_equal(run(out, calib[0]), before)
    known = {t for n in prepared.node for t in [*n.input, *n.output]} | {i.name for i in prepared.initializer}
    g = onnx.load(str(out)).graph
    tensors = {t for n in g.node for t in [*n.input, *n.output] if t}
    assert all(t in known or re.fullmatch(r"q\d+", t) for t in tensors)
    assert {n.name for n in g.node if n.name} <= {n.name for n in prepared.node}  # no invented node names
    convs_named = {n.name for n in g.node if n.op_type == "Conv"}
    assert convs_named == {n.name for n in prepared.node if n.op_type == "Conv"}  # the fp32 nodes keep theirs
    ops = optimised_ops(out, tmp_path)
    assert "Conv" not in ops, "a float Conv is left between DequantizeLinear and QuantizeLinear"
    assert ops.count("QLinearConv") == len(convs)
    assert ops.count("QGemm") == 1  # the classifier


def test_ops_kept_float_store_int8_weights_that_onnxruntime_folds(tmp_path):
    """The accuracy fallback's float ops keep float activations but int8 weights (`runtime.int8.
    int8_weights_of_float_ops`): the file is smaller by about 3 bytes a weight, and onnxruntime folds
    the weights' `Cast * scale` when the session opens, so its optimised graph is the one of the same
    weights stored as float (no dequantising on every run) and the outputs are the same."""
    import onnx
    from onnx import numpy_helper

    from ofa_deploy.export.int8 import OnnxQuantiser
    from ofa_deploy.runtime.convert import export_onnx

    torch.manual_seed(0)
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    arch = middle_arch(spec, 64)
    fp32 = export_onnx(OFAMobileNetV3(spec).extract(arch).eval(), torch.zeros(1, 3, 64, 64), tmp_path / "f.onnx")
    calib = [np.random.default_rng(i).standard_normal((1, 3, 64, 64)).astype(np.float32) for i in range(4)]
    q = OnnxQuantiser(fp32)
    try:
        from ofa_deploy.export.quantize import FloatOp

        keep = [FloatOp("Conv", "/feature_mix_layer/conv/Conv", "test"), FloatOp("Gemm", "/classifier/linear/Gemm", "test")]
        out = q.quantize(calib, tmp_path / "q.onnx", keep)
        q.finish(out)
    finally:
        q.close()
    model = onnx.load(str(out))
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    kept = [n for n in g.node if n.name in {k.name for k in keep}]
    assert [n.op_type for n in kept] == ["Conv", "Gemm"]
    params = 0
    for n in kept:  # float op, int8 weight: Cast(int8) * per-channel scale
        mul = producer[n.input[1]]
        cast = producer[mul.input[0]]
        assert (mul.op_type, cast.op_type) == ("Mul", "Cast")
        assert inits[cast.input[0]].dtype == np.int8
        assert producer[n.input[0]].op_type in ("DequantizeLinear", "ReduceMean", "Flatten")  # float activations
        params += inits[cast.input[0]].size
    # The same file with those weights stored as the float values they stand for.
    restored = onnx.load(str(out))
    rg = restored.graph
    rprod = {o: n for n in rg.node for o in n.output}
    for n in [n for n in rg.node if n.name in {k.name for k in keep}]:
        mul = rprod[n.input[1]]
        w = inits[rprod[mul.input[0]].input[0]].astype(np.float32) * inits[mul.input[1]]
        rg.initializer.append(numpy_helper.from_array(w.astype(np.float32), n.name + "_w"))
        rg.node.remove(rprod[mul.input[0]])
        rg.node.remove(mul)
        n.input[1] = n.name + "_w"
    onnx.save(restored, str(tmp_path / "restored.onnx"))
    assert (tmp_path / "restored.onnx").stat().st_size - out.stat().st_size > 2.9 * params
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert sorted(optimised_ops(out, tmp_path / "a")) == sorted(optimised_ops(tmp_path / "restored.onnx", tmp_path / "b"))
    np.testing.assert_allclose(run(out, calib[0]), run(tmp_path / "restored.onnx", calib[0]), rtol=1e-5, atol=1e-6)
