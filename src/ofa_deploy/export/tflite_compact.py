"""A compact int8 `.tflite` file: short tensor names, and each distinct small vector written once (issue 29's
size target).

Names. litert-torch names every tensor after its module path (`...layers.ConvLayer_feature_mix_layer/torch.nn.
modules.conv.Conv2d_conv;1`); in the demo's middle int8 subnet these names were 165 kB of a 1.29 MB
file (0.045 of the fp32 file), more than its int32 biases and float constants together. Nothing reads
them at run time: the signature refers to tensors by index, the interpreter's input/output details
keep their names here. So the kept int8 file renames every other tensor `t<index>`, except the outputs
of ops computing in float (the ops kept float: their names say which they are).

Shared vectors. A per-channel weight or bias carries one float32 scale and one int64 zero point per
output channel (the schema's `zero_point` is `[long]`; LiteRT refuses a tensor whose zero-point count
differs from its scale count, and XNNPACK checks the bias's too). The zero points of symmetric int8
weights are all 0: in the demo's int8 subnet they were 169 kB of a 1.48 MB file, the same few
all-zero vectors written once per tensor. A FlatBuffer may point any number of tables at one vector,
and readers only follow offsets, so `_SharingBuilder` writes every distinct numeric vector (zero
points, tensor shapes, operator index lists, scales that repeat) once and points every later copy at
it. The model the interpreters read is unchanged: same tensors, same parameters.

Why by hand: LiteRT's `tools.flatbuffer_utils` reads and writes the object model but its writer packs
each buffer inline with 1-byte alignment (the schema asks 16), writes every vector again, and its
`strip_strings` also deletes the signature defs. This writes the model object with every non-empty
buffer out of line (`offset` / `size`, as ai-edge-quantizer writes them), each 16-byte aligned after the
flatbuffer, and patches the offsets with `flatbuffer_utils.update_packed_buffer`.
"""

from __future__ import annotations

import os
from pathlib import Path

ALIGN = 16


def _sharing_builder(size: int):
    """A `flatbuffers.Builder` whose `CreateNumpyVector` writes each distinct vector (dtype and bytes) once
    and returns the first copy's offset for the others. The schema's object API packs every numeric
    vector it read as numpy through that method."""
    import flatbuffers

    class _SharingBuilder(flatbuffers.Builder):
        def __init__(self, initial: int) -> None:
            super().__init__(initial)
            self._written: dict[tuple[str, tuple[int, ...], bytes], int] = {}

        def CreateNumpyVector(self, x):  # flatbuffers' own method name
            key = (x.dtype.str, x.shape, x.tobytes())
            offset = self._written.get(key)
            if offset is None:
                offset = self._written[key] = super().CreateNumpyVector(x)
            return offset

    return _SharingBuilder(size)


def compact_int8_tflite(path: str | os.PathLike) -> int:
    """Rename the inner tensors of the `.tflite` at `path` and write each distinct vector once, in place
    (atomically); returns the bytes saved (0, and the file untouched, when nothing would be saved)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fu

    from ..fsio import atomic_write_bytes

    path = Path(path)
    original = path.read_bytes()
    model = fu.read_model_from_bytearray(bytearray(original))  # resolves out-of-line buffers
    for sg in model.subgraphs or []:
        keep = set(sg.inputs or []) | set(sg.outputs or [])
        for op in sg.operators or []:
            outs = [i for i in (op.outputs or []) if i >= 0]
            if all(sg.tensors[i].type == schema.TensorType.FLOAT32 for i in outs):
                ins = [i for i in (op.inputs or []) if i >= 0 and sg.tensors[i].buffer == 0]
                if any(sg.tensors[i].type == schema.TensorType.FLOAT32 for i in ins):
                    keep.update(outs)  # an op computing in float
        for i, t in enumerate(sg.tensors or []):
            if i not in keep:
                t.name = f"t{i}".encode()
    blobs = []
    for b in model.buffers or []:
        data = bytes(b.data) if b.data is not None else b""
        blobs.append(data)
        b.data = None
        b.offset, b.size = (1, len(data)) if data else (0, 0)  # placeholders: non-default so they are written
    builder = _sharing_builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = bytearray(builder.Output())
    packed = schema.Model.GetRootAs(out, 0)
    tail = bytearray()
    for i, data in enumerate(blobs):
        if not data:
            continue
        pad = (-(len(out) + len(tail))) % ALIGN
        tail += b"\0" * pad
        fu.update_packed_buffer(packed.Buffers(i), offset=len(out) + len(tail), size=len(data))
        tail += data
    result = bytes(out + tail)
    if len(result) >= len(original):
        return 0
    atomic_write_bytes(path, result)
    return len(original) - len(result)


__all__ = ["compact_int8_tflite"]
