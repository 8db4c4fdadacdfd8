"""Supernet checkpoints of every family: the official OFA format and our own self-describing file.

* Official: `{"state_dict": ...}` (or a bare state dict) with legacy `blocks.N.mobile_inverted_conv.*`
  or current `blocks.N.conv.*` keys (ResNet50: either its dynamic or its static names). The space
  is inferred from tensor shapes unless given.
* Ours: `{"format": "ofa-deploy-supernet", "spec": {...}, "state_dict": ..., "meta": {...}}`, written
  atomically, so a checkpoint describes itself (`nn.supernet_file`).
Every file is read once, with torch's weights-only unpickler (tensors and plain containers only),
so a crafted checkpoint cannot run code; an unreadable one fails with one line naming the file.
A checkpoint that does not fit fails listing missing / unexpected keys and mismatched shapes.
Which class a space builds, and how keys map onto it, is `nn.registry`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, SpaceError
from ..space import FamilySpec, spec_from_dict
from ..space.checkpoint import (
    OUR_FORMAT,
    SUBNET_FORMAT,
    finetuned_refusal,
    infer_spec_from_state,
    normalise_keys,
)
from ..torchio import read_checkpoint
from .registry import Supernet, load_weights, new_supernet
from .supernet_file import file_meta, read_supernet_file, write_supernet_file


def save_supernet(model: Supernet, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Write our format atomically (tmp file + rename), for a supernet of any family. `half` stores
    float tensors as fp16."""
    return write_supernet_file(model, model.spec, path, meta, half)


def save_any_supernet(model: Supernet, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Our self-describing checkpoint of a supernet of any family (full precision)."""
    return save_supernet(model, path, meta=meta, half=False)


def load_supernet_weights(model: Supernet, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load with a readable report of what does not fit (any family: `registry.load_weights`)."""
    load_weights(model, state, source)


def load_supernet(path: str | os.PathLike, spec: FamilySpec | None = None) -> Supernet:
    """Load our checkpoint (spec embedded) or an official one (spec inferred or given), of any family."""
    obj, state = read_supernet_file(path)
    if obj.get("format") == SUBNET_FORMAT:  # `finetune`'s static subnet: say what to give instead
        raise CheckpointError(finetuned_refusal(path, obj))
    if obj.get("format") == OUR_FORMAT:
        try:
            spec = spec_from_dict(obj.get("spec")) if spec is None else spec
        except SpaceError as e:
            raise CheckpointError(f"{path}: corrupt embedded space ({e})") from None
    elif spec is None:
        spec = infer_spec_from_state(normalise_keys(state))
    model = new_supernet(spec)
    load_weights(model, state, str(path))
    model.checkpoint_meta = file_meta(obj)
    model.eval()
    return model


__all__ = ["load_supernet", "load_supernet_weights", "load_weights", "new_supernet", "normalise_keys", "read_checkpoint",
           "save_any_supernet", "save_supernet"]
