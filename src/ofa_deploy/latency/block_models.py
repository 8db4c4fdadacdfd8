"""Small ONNX or TFLite models of the table entries, cut from the supernet's own modules (batch 1, NCHW).

What is timed must be what will run: every table entry is the very module an extracted subnet
chains (`MobileNetV3.layer_sequence()`), exported alone with its input shape. Chaining those
modules reproduces the whole subnet exactly, so the block sum and the whole model time the same
operators. The exported folder (`manifest.json` + one `.onnx` or `.tflite` per entry) is
self-contained, so a standalone runner can time it on a remote device in the format it will run
(`.tflite` through litert-torch for phones and boards, `.onnx` for onnxruntime).

Imports torch: only `profile` / `validate` use this module, never `search` or `lut`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..space import FamilySpec
from .blocks import arch_keys, key_scheme, resolution_keys

MANIFEST = "manifest.json"
FORMATS = ("onnx", "tflite")


@dataclass
class BlockModel:
    """One table entry ready to time: its key, resolution, input shape (NCHW) and module / file."""

    key: str
    resolution: int
    input_shape: tuple[int, ...]
    module: nn.Module | None = None
    onnx_path: str | None = None
    onnx_bytes: bytes | None = None
    tflite_path: str | None = None

    @property
    def name(self) -> str:
        return f"{self.resolution}/{self.key}"


def covering_archs(spec: Any, r: int) -> list[Any]:
    """Archs that together contain every block of the space at resolution `r` (the family's key
    scheme's; MobileNet: all slots at one (kernel, expand) choice, every stage at full depth)."""
    return key_scheme(spec).covering_archs(spec, r)


def iter_layers(sub: nn.Module, spec: Any, arch: Any) -> Iterator[tuple[str, nn.Module, tuple[int, ...]]]:
    """(key, module, input shape) of every layer of an extracted subnet, in order."""
    layers = sub.layer_sequence()
    keys = arch_keys(spec, arch)
    if len(layers) != len(keys):
        raise RuntimeError(f"subnet has {len(layers)} layers but {len(keys)} table keys")
    x = torch.zeros(1, spec.in_channels, arch.r, arch.r)
    with torch.no_grad():
        for key, layer in zip(keys, layers):
            yield key, layer, tuple(x.shape)
            x = layer(x)


def block_models(net: nn.Module, spec: FamilySpec, r: int, keys: Iterable[str] | None = None) -> list[BlockModel]:
    """The modules of the wanted keys at resolution `r` (default: every key of the space), in
    the order of `resolution_keys(spec, r).distinct()`."""
    wanted = list(keys) if keys is not None else resolution_keys(spec, r).distinct()
    todo = set(wanted)
    found: dict[str, BlockModel] = {}
    for arch in covering_archs(spec, r):
        if not todo:
            break
        sub = net.extract(arch)
        for key, layer, shape in iter_layers(sub, spec, arch):
            if key in todo:
                found[key] = BlockModel(key, r, shape, layer.eval())
                todo.discard(key)
    if todo:
        raise RuntimeError(f"keys not produced by the supernet: {sorted(todo)[:3]}")
    return [found[k] for k in wanted]


def onnx_bytes(module: nn.Module, input_shape: tuple[int, ...]) -> bytes:
    """One-file ONNX (opset 17, weights inline) of a module at a fixed shape; input `x`, output `y`."""
    from ..runtime.convert import onnx_model

    return onnx_model(module, torch.randn(*input_shape), input_name="x", output_name="y")


def write_block_model(module: nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike,
                      fmt: str = "onnx") -> Path:
    """One block as `.onnx` (opset 17, one file) or fp32 `.tflite` (litert-torch, NCHW input)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "onnx":
        path.write_bytes(onnx_bytes(module, input_shape))
    elif fmt == "tflite":
        from ..runtime.convert import convert_fp32

        convert_fp32(module, torch.randn(*input_shape), path)
    else:
        raise ValueError(f"block model format must be one of {FORMATS}, not {fmt!r}")
    return path


LATER = "later"  # what a `write` returns for a file whose source another process is making: asked again last


def export_block_models(models: list[BlockModel], out_dir: str | os.PathLike, fmt: str = "onnx",
                        write: Callable[[BlockModel, Path, str, bool], Any] | None = None) -> Path:
    """Write every model as `<r>/<n>.<fmt>` plus `manifest.json` (key, resolution, file, shape).

    `write(model, path, fmt, wait)` makes one file (default `write_block_model`; a caller may pass one
    that copies a cached conversion, since a `.tflite` conversion takes seconds per block). Asked with
    `wait=False`, it may return `LATER` when another process is making that file's source (`devices.bundle`:
    a shared conversion cache): the model is then asked for again after all the others, with `wait=True`,
    and must be written."""
    if fmt not in FORMATS:
        raise ValueError(f"block model format must be one of {FORMATS}, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rels = [Path(str(m.resolution)) / f"{n:04d}.{fmt}" for n, m in enumerate(models)]
    later = []
    for n, (m, rel) in enumerate(zip(models, rels, strict=True)):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        if write is None:
            assert m.module is not None
            write_block_model(m.module, m.input_shape, out / rel, fmt)
        elif write(m, out / rel, fmt, False) is LATER:
            later.append(n)
    for n in later:
        assert write is not None
        if write(models[n], out / rels[n], fmt, True) is LATER:
            raise RuntimeError(f"the writer put off {models[n].name} twice")
    entries: list[dict[str, Any]] = []
    for m, rel in zip(models, rels, strict=True):
        setattr(m, f"{fmt}_path", str(out / rel))
        entry = {"key": m.key, "resolution": m.resolution, "input_shape": list(m.input_shape), "path": str(rel)}
        if fmt == "onnx":
            entry["onnx_path"] = str(rel)  # the name older manifests used
        entries.append(entry)
    from ..runtime.convert import OPSET

    doc = {"format": fmt, "opset": OPSET if fmt == "onnx" else None, "entries": entries}
    (out / MANIFEST).write_text(json.dumps(doc, indent=1))
    return out


def read_manifest(folder: str | os.PathLike) -> list[BlockModel]:
    folder = Path(folder)
    doc = json.loads((folder / MANIFEST).read_text())
    fmt = doc.get("format", "onnx")
    out = []
    for e in doc["entries"]:
        m = BlockModel(e["key"], int(e["resolution"]), tuple(e["input_shape"]))
        setattr(m, f"{fmt}_path", str(folder / e.get("path", e.get("onnx_path"))))
        out.append(m)
    return out
