"""The space a supernet checkpoint belongs to, read without torch and without its weights.

Why one function for it: `profile`, `search` and `export` all need a checkpoint's space before
(or instead of) building the network, and `search` must start fast. Our checkpoints embed the
space (`spec`); an official one (`{"state_dict": ...}` or a bare state dict) is recognised from its
tensor shapes. Our files carry the space as a JSON record inside their zip (`space.embedded`),
read with `zipfile` and `json` alone, so `search` never imports torch for them; any other file
(official, or ours from before the record) is read by torch's weights-only loader
(`torchio.read_checkpoint`, imported only then), which never runs code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, OfaDeployError, SpaceError
from .embedded import SUPERNET_FORMAT, read_space_record
from .family import FamilySpec, SpaceFamily, families, spec_from_dict

OUR_FORMAT = SUPERNET_FORMAT
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar")


def normalise_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Legacy official names -> current names (`mobile_inverted_conv` -> `conv`, drop `module.`)."""
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")
        out[k.replace(".mobile_inverted_conv.", ".conv.")] = v
    return out


def checkpoint_kind(state: dict[str, Any]) -> SpaceFamily:
    """The registered family whose supernet has exactly the checkpoint's top-level modules
    (MobileNetV3: a final expand and a feature mix layer; ProxylessNAS: a feature mix layer only)."""
    top = {k.split(".", 1)[0] for k in state}
    for family in families():
        if family.module_names == top:
            return family
    known = "; ".join(f"{k.title}: {', '.join(sorted(k.module_names))}" for k in families())
    raise CheckpointError(f"checkpoint's modules ({', '.join(sorted(top))}) are not those of an OFA supernet ({known})")


def infer_spec_from_state(state: dict[str, Any]) -> FamilySpec:
    """The space of an official checkpoint, from its tensor shapes (kernel/expand lists: OFA's), read
    by the family whose modules it has. `state` holds anything with a `.shape` (torch tensors, numpy
    arrays, `TensorRef`s)."""
    return checkpoint_kind(state).infer_spec(state)


SUBNET_FORMAT = "ofa-deploy-subnet"  # `ofa-deploy finetune`'s static subnet (`nn.finetuned`)


def finetuned_refusal(path: str | os.PathLike, obj: dict[str, Any], command: str | None = None) -> str:
    """The one line refusing a fine-tuned subnet checkpoint where `command` needs a supernet: which
    supernet it was cut from (its meta), and which commands take the checkpoint itself."""
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    tune = meta.get("finetune") if isinstance(meta.get("finetune"), dict) else {}
    cut_from = tune.get("supernet")
    return (f"{path} is a fine-tuned subnet (written by `ofa-deploy finetune`), not the supernet "
            f"{f'`{command}`' if command else 'this command'} needs: give the supernet it was cut from "
            f"(--supernet {cut_from or 'SUPERNET.pt'}); the fine-tuned subnet itself goes to "
            f"`ofa-deploy export --supernet {path}`, then `ofa-deploy benchmark`")


def checkpoint_space(path: str | os.PathLike, command: str | None = None) -> FamilySpec:
    """The space of a supernet checkpoint (ours: embedded; official: from its tensor shapes), or of a
    fine-tuned subnet checkpoint (its embedded space: `export` takes one where it takes a supernet).
    `command`: a command that needs a supernet; a fine-tuned subnet is then refused (`finetuned_refusal`)."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder; give a supernet checkpoint file (.pt, .pth)")
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file; give a supernet written by `ofa-deploy train` "
                              "or an official OFA checkpoint (MobileNetV3, ProxylessNAS)")
    spec = read_space_record(p)
    if spec is not None:
        return spec
    from ..torchio import read_checkpoint  # torch, weights only: never unpickles code

    obj = read_checkpoint(p)
    if command is not None and obj.get("format") == SUBNET_FORMAT:
        raise CheckpointError(finetuned_refusal(p, obj, command))
    if obj.get("format") == OUR_FORMAT or isinstance(obj.get("spec"), dict):
        try:
            return spec_from_dict(obj["spec"])
        except (SpaceError, KeyError) as e:
            raise CheckpointError(f"{p}: corrupt embedded space ({e})") from None
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict):
        raise CheckpointError(f"{p}: no state_dict found")
    try:
        return infer_spec_from_state(normalise_keys(state))
    except OfaDeployError as e:
        raise CheckpointError(f"{p}: {e}") from None


__all__ = ["CHECKPOINT_SUFFIXES", "SUBNET_FORMAT", "checkpoint_kind", "checkpoint_space", "finetuned_refusal",
           "infer_spec_from_state", "normalise_keys"]
