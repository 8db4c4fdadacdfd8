"""Supernet checkpoints: the official OFA format and our own self-describing file.

* Official: `{"state_dict": ...}` (or a bare state dict) with legacy `blocks.N.mobile_inverted_conv.*`
  or current `blocks.N.conv.*` keys. The space is inferred from tensor shapes unless given.
* Ours: `{"format": "ofa-deploy-supernet", "spec": {...}, "state_dict": ..., "meta": {...}}`, written
  atomically, so a checkpoint describes itself; the space is also stored as a JSON record in the
  zip (`space.embedded`), so `search` reads it without torch.
Every file is read with torch's weights-only unpickler (tensors and plain containers only), so a
crafted checkpoint cannot run code; an unreadable one fails with one line naming the file.
A checkpoint that does not fit fails listing missing / unexpected keys and mismatched shapes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, SpaceError
from ..fsio import atomic_path
from ..space import SpaceKind, SpaceSpec
from ..space.checkpoint import (
    OUR_FORMAT,
    SUBNET_FORMAT,
    finetuned_refusal,
    infer_spec_from_state,
    normalise_keys,
)
from ..space.embedded import add_space_record
from ..torchio import read_checkpoint, torch_save
from .strict import strict_load
from .supernet import OFASupernet


def save_supernet(model: OFASupernet, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Write our format atomically (tmp file + rename). `half` stores float tensors as fp16."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    p = Path(path)
    with atomic_path(p) as tmp:
        torch_save({"format": OUR_FORMAT, "version": 1, "spec": model.spec.to_dict(), "state_dict": state,
                    "meta": meta or {}}, tmp)
        add_space_record(tmp, model.spec)
    return p


def load_supernet_weights(model: OFASupernet, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load with a readable report of what does not fit."""
    state = normalise_keys(state)
    strict_load(model, state, source, model.spec.describe())


def _own_family(spec: Any) -> Any:
    """The supernet module of a kind that is not of the MobileNet family (`SpaceKind`): ResNet50, the
    one such kind. nn, not the space kind, knows where supernets live (space never imports nn)."""
    from . import resnet50

    return resnet50


def new_supernet(spec: Any) -> Any:
    """A freshly initialised supernet of any kind."""
    if isinstance(spec.kind_info, SpaceKind):
        return OFASupernet(spec)
    return _own_family(spec).OFAResNet50(spec)


def load_weights(model: Any, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """`load_supernet_weights` for any kind (a kind of its own family loads with its own key rules)."""
    if isinstance(model.spec.kind_info, SpaceKind):
        load_supernet_weights(model, state, source)
    else:
        _own_family(model.spec).load_resnet_weights(model, state, source)


def save_any_supernet(model: Any, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Our self-describing checkpoint of a supernet of any kind (full precision)."""
    if isinstance(model.spec.kind_info, SpaceKind):
        return save_supernet(model, path, meta=meta, half=False)
    return _own_family(model.spec).save_resnet_supernet(model, path, meta)


def load_supernet(path: str | os.PathLike, spec: SpaceSpec | None = None) -> OFASupernet:
    """Load our checkpoint (spec embedded) or an official one (spec inferred or given)."""
    obj = read_checkpoint(path)
    if obj.get("format") == SUBNET_FORMAT:  # `finetune`'s static subnet: say what to give instead
        raise CheckpointError(finetuned_refusal(path, obj))
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: no state_dict of tensors found; is it a supernet checkpoint?")
    if obj.get("format") == OUR_FORMAT:
        try:
            spec = SpaceSpec.from_dict(obj.get("spec")) if spec is None else spec
        except SpaceError as e:
            raise CheckpointError(f"{path}: corrupt embedded space ({e})") from None
    elif spec is None:
        spec = infer_spec_from_state(normalise_keys(state))
    if not isinstance(spec.kind_info, SpaceKind):  # a family of its own (ResNet50) builds its own supernet
        return _own_family(spec).load_resnet_supernet(path, spec)
    model = OFASupernet(spec)
    load_supernet_weights(model, state, str(path))
    meta = obj.get("meta")
    model.checkpoint_meta = dict(meta) if isinstance(meta, dict) else {}  # type: ignore[attr-defined]
    return model.eval()
