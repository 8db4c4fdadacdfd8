"""Supernet checkpoints: the official OFA format and our own self-describing file.

* Official: `{"state_dict": ...}` (or a bare state dict) with legacy `blocks.N.mobile_inverted_conv.*`
  or current `blocks.N.conv.*` keys. The space is inferred from tensor shapes unless given.
* Ours: `{"format": "ofa-deploy-supernet", "spec": {...}, "state_dict": ..., "meta": {...}}`, written
  atomically, so a checkpoint describes itself.
A checkpoint that does not fit fails listing missing / unexpected keys and mismatched shapes.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..space import SpaceSpec
from ..space.checkpoint import OUR_FORMAT, infer_spec_from_state, normalise_keys
from .supernet import OFAMobileNetV3


def save_supernet(model: OFAMobileNetV3, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Write our format atomically (tmp file + rename). `half` stores float tensors as fp16."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save({"format": OUR_FORMAT, "version": 1, "spec": model.spec.to_dict(), "state_dict": state,
                "meta": meta or {}}, tmp)
    os.replace(tmp, p)
    return p


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def load_supernet_weights(model: OFAMobileNetV3, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load with a readable report of what does not fit."""
    state = normalise_keys(state)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [f"{k}: checkpoint {tuple(state[k].shape)} vs supernet {tuple(own[k].shape)}"
                  for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("shape mismatches", mismatched)):
            if items:
                shown = ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")
                parts.append(f"{title}: {shown}")
        raise CheckpointError(f"{source} does not fit the supernet {model.spec.describe()}; " + "; ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_supernet(path: str | os.PathLike, spec: SpaceSpec | None = None) -> OFAMobileNetV3:
    """Load our checkpoint (spec embedded) or an official one (spec inferred or given)."""
    obj = read_checkpoint(path)
    if obj.get("format") == OUR_FORMAT:
        spec = SpaceSpec.from_dict(obj["spec"]) if spec is None else spec
        state = obj["state_dict"]
    else:
        state = obj.get("state_dict", obj)
        if not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path}: no state_dict of tensors found")
        if spec is None:
            spec = infer_spec_from_state(normalise_keys(state))
    model = OFAMobileNetV3(spec)
    load_supernet_weights(model, state, str(path))
    model.checkpoint_meta = dict(obj.get("meta") or {})  # type: ignore[attr-defined]
    return model.eval()
