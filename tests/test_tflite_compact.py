"""The int8 `.tflite` export keeps compacted (`export.tflite_compact`, issue 29's size target): short
tensor names and each distinct vector written once; same outputs with and without XNNPACK, same
signature and input/output names, the same quantisation parameters, a smaller file, its buffers still
16-byte aligned, and the float ops' outputs still named."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("ai_edge_quantizer")


def test_a_compacted_int8_file_is_the_same_model_smaller(tmp_path):
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from ofa_deploy.export.quantize import quantize_int8
    from ofa_deploy.export.tflite_compact import ALIGN, compact_int8_tflite
    from ofa_deploy.runtime.convert import convert_fp32

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Hardswish(), nn.Conv2d(16, 16, 3, padding=1, groups=16),
                      nn.ReLU(), nn.Conv2d(16, 8, 1)).eval()
    fp32 = convert_fp32(m, torch.zeros(1, 3, 8, 8), tmp_path / "m.tflite")
    q = quantize_int8(fp32, [np.random.default_rng(i).standard_normal((1, 3, 8, 8)).astype(np.float32)
                             for i in range(8)], tmp_path / "q.tflite")
    before = q.read_bytes()
    saved = compact_int8_tflite(q)
    after = q.read_bytes()
    assert saved > 0 and len(before) - len(after) == saved

    def outputs(data: bytes, xnnpack: bool):
        kw = {} if xnnpack else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
        it = Interpreter(model_content=data, num_threads=1, **kw)
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        it.set_tensor(i["index"], np.random.default_rng(1).integers(-128, 127, i["shape"]).astype(i["dtype"]))
        it.invoke()
        return it.get_tensor(o["index"]).copy(), (i["name"], o["name"]), it.get_signature_list()

    for xnnpack in (True, False):
        y0, io0, sig0 = outputs(before, xnnpack)
        y1, io1, sig1 = outputs(after, xnnpack)
        assert np.array_equal(y0, y1) and io0 == io1 and sig0 == sig1
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(after, 0))
    sg = model.subgraphs[0]
    names = [t.name.decode() for t in sg.tensors]
    io = {*sg.inputs, *sg.outputs}
    hswish = next(op for op in sg.operators
                  if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.HARD_SWISH)
    assert not re.fullmatch(r"t\d+", names[hswish.outputs[0]])  # a float op's output keeps its name
    assert sum(bool(re.fullmatch(r"t\d+", n)) for n in names) >= len(names) - len(io) - 4
    assert all(b.offset % ALIGN == 0 for b in model.buffers if b.size)

    # the same tensors with the same quantisation parameters; the all-zero zero points of the per-channel
    # weights are one vector in the file, not one per tensor
    def quantisation(data: bytes) -> list[tuple]:
        sg = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0)).subgraphs[0]
        return [(t.type, tuple(t.shape), t.buffer,
                 None if t.quantization is None or t.quantization.scale is None else
                 (tuple(t.quantization.scale), tuple(t.quantization.zeroPoint), t.quantization.quantizedDimension))
                for t in sg.tensors]

    assert quantisation(before) == quantisation(after)
    packed = schema.Model.GetRootAs(after, 0).Subgraphs(0)
    per_channel = [packed.Tensors(i).Quantization() for i in range(packed.TensorsLength())
                   if packed.Tensors(i).Quantization() is not None
                   and packed.Tensors(i).Quantization().ZeroPointLength() > 1]
    assert len(per_channel) >= 3  # the three convolutions' weights (and their biases)
    where = {(q.ZeroPointLength(), q._tab.Vector(q._tab.Offset(10))) for q in per_channel}  # field 10: zero_point
    assert len(where) == len({n for n, _ in where})  # one vector per channel count
