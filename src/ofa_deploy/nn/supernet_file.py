"""Our supernet checkpoint file, read and written once for every family.

`{"format": "ofa-deploy-supernet", "version": 1, "spec": {...}, "state_dict": ..., "meta": {...}}`,
written atomically with the space also embedded as a JSON record in the zip (`space.embedded`,
so `search` reads it without torch); any file is read with torch's weights-only unpickler
(`torchio.read_checkpoint`), so a crafted checkpoint cannot run code. Which supernet class a
space builds is `nn.registry`'s job; this module only moves state dicts to and from disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..fsio import atomic_path
from ..space.checkpoint import OUR_FORMAT
from ..space.embedded import add_space_record
from ..torchio import read_checkpoint, torch_save


def read_supernet_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(the whole object, its state dict of tensors); `CheckpointError` when it holds none."""
    obj = read_checkpoint(path)
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: no state_dict of tensors found; is it a supernet checkpoint?")
    return obj, state


def write_supernet_file(model: nn.Module, spec: Any, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                        half: bool = False) -> Path:
    """Write our format atomically (tmp file + rename). `half` stores float tensors as fp16."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    p = Path(path)
    with atomic_path(p) as tmp:
        torch_save({"format": OUR_FORMAT, "version": 1, "spec": spec.to_dict(), "state_dict": state,
                    "meta": meta or {}}, tmp)
        add_space_record(tmp, spec)
    return p


def file_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """The `meta` a checkpoint carries (empty when it has none, as official ones)."""
    meta = obj.get("meta")
    return dict(meta) if isinstance(meta, dict) else {}


__all__ = ["file_meta", "read_supernet_file", "write_supernet_file"]
