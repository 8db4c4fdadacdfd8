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
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, SpaceError
from ..fsio import atomic_path
from ..space import SpaceKind, SpaceSpec
from ..space.checkpoint import OUR_FORMAT, infer_spec_from_state, normalise_keys
from ..space.embedded import add_space_record
from .supernet import OFASupernet


def save_supernet(model: OFASupernet, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Write our format atomically (tmp file + rename). `half` stores float tensors as fp16."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    p = Path(path)
    with atomic_path(p) as tmp:
        torch.save({"format": OUR_FORMAT, "version": 1, "spec": model.spec.to_dict(), "state_dict": state,
                    "meta": meta or {}}, tmp)
        add_space_record(tmp, model.spec)
    return p


def safe_torch_load(path: str | os.PathLike, what: str = "checkpoint",
                    hint: str = "give a file written by torch.save") -> Any:
    """`torch.load(weights_only=True)` (zip and legacy files alike), every failure one line.

    Why catch every Exception: whatever torch's readers raise on a damaged or crafted file
    (UnpicklingError, RuntimeError from the zip reader, KeyError, struct errors...) means the
    same thing to the user, and the weights-only unpickler refuses any object it does not know
    before building it, so nothing of the file ran. Torch's warnings about the file (pickle
    protocol, ...) are silenced: the outcome is the one line below or the loaded object.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such {what} file")
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder; give a {what} file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any failure to parse means one thing: see the docstring)
        raise CheckpointError(f"{p}: not a readable {what} ({_load_failure(e)}); {hint}") from None


def _load_failure(e: Exception) -> str:
    """One line for what torch.load raised (its weights-only messages span many lines)."""
    text = str(e)
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if refused:
        return f"it holds {refused.group(1)}, which is not tensor data; such files are never loaded"
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    first = detail.group(1) if detail else (text.strip().splitlines() or [""])[0]
    first = first.strip().split(". ")[0][:160]  # torch's zip reader appends an internal-error notice
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    obj = safe_torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(obj).__name__}")
    return obj


def load_supernet_weights(model: OFASupernet, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
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


def new_supernet(spec: Any) -> Any:
    """A freshly initialised supernet of any kind (MobileNet family here; others build their own)."""
    if isinstance(spec.kind_info, SpaceKind):
        return OFASupernet(spec)
    return spec.kind_info.new_supernet(spec)


def load_weights(model: Any, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """`load_supernet_weights` for any kind (a kind of its own family loads with its own key rules)."""
    if isinstance(model.spec.kind_info, SpaceKind):
        load_supernet_weights(model, state, source)
    else:
        model.spec.kind_info.load_weights(model, state, source)


def save_any_supernet(model: Any, path: str | os.PathLike, meta: dict[str, Any] | None = None) -> Path:
    """Our self-describing checkpoint of a supernet of any kind (full precision)."""
    if isinstance(model.spec.kind_info, SpaceKind):
        return save_supernet(model, path, meta=meta, half=False)
    return model.spec.kind_info.save_supernet(model, path, meta)


def load_supernet(path: str | os.PathLike, spec: SpaceSpec | None = None) -> OFASupernet:
    """Load our checkpoint (spec embedded) or an official one (spec inferred or given)."""
    obj = read_checkpoint(path)
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
        return spec.kind_info.load_supernet(path, spec)
    model = OFASupernet(spec)
    load_supernet_weights(model, state, str(path))
    meta = obj.get("meta")
    model.checkpoint_meta = dict(meta) if isinstance(meta, dict) else {}  # type: ignore[attr-defined]
    return model.eval()
