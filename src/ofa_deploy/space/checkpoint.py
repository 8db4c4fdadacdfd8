"""The space a supernet checkpoint belongs to, read without torch and without its weights.

Why one function for it: `profile`, `search` and `export` all need a checkpoint's space before
(or instead of) building the network, and `search` must start fast. Our checkpoints embed the
space (`spec`); an official one (`{"state_dict": ...}` or a bare state dict) is recognised from its
tensor shapes. The pickle is read by the restricted, torch-free reader of `predictor.torchfile`
(tensor data is not read at all), so this works where torch is absent and never runs code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, OfaDeployError
from .formats import infer_space
from .spec import SpaceSpec

OUR_FORMAT = "ofa-deploy-supernet"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar")


def normalise_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Legacy official names -> current names (`mobile_inverted_conv` -> `conv`, drop `module.`)."""
    out = {}
    for k, v in state.items():
        k = k.removeprefix("module.")
        out[k.replace(".mobile_inverted_conv.", ".conv.")] = v
    return out


def infer_spec_from_state(state: dict[str, Any]) -> SpaceSpec:
    """The space of an official checkpoint, from its tensor shapes (kernel/expand lists: OFA's).
    `state` holds anything with a `.shape` (torch tensors, numpy arrays, `TensorRef`s)."""
    try:
        first = state["first_conv.conv.weight"]
        n_classes = state["classifier.linear.weight"].shape[0]
        last = state["classifier.linear.weight"].shape[1]
        final = state["final_expand_layer.conv.weight"].shape[0]
        n_blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        max_depth = (n_blocks - 1) // 5
        widths = [state[f"blocks.{1 + s * max_depth}.conv.point_linear.conv.conv.weight"].shape[0] for s in range(5)]
        k_max = state["blocks.1.conv.depth_conv.conv.conv.weight"].shape[-1]
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"checkpoint is not an OFA MobileNetV3 supernet (missing {e})") from None
    ks = tuple(k for k in (3, 5, 7) if k <= k_max)
    depths = tuple(d for d in (2, 3, 4) if d <= max_depth) or (max_depth,)
    try:
        spec = infer_space(int(first.shape[0]), widths, int(final), int(last), int(n_classes), int(first.shape[1]))
    except OfaDeployError as e:
        raise CheckpointError(str(e)) from None
    return SpaceSpec(width_mult=spec.width_mult, ks_list=ks, depth_list=depths, n_classes=int(n_classes),
                     in_channels=int(first.shape[1]))


def checkpoint_space(path: str | os.PathLike) -> SpaceSpec:
    """The space of a supernet checkpoint (ours: embedded; official: from its tensor shapes)."""
    from ..predictor.torchfile import read_pickle_only

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file; give a supernet written by `ofa-deploy train` "
                              "or an official OFA MobileNetV3 checkpoint")
    try:
        obj = read_pickle_only(p)
    except OfaDeployError as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: expected a dict checkpoint, got {type(obj).__name__}")
    if obj.get("format") == OUR_FORMAT or isinstance(obj.get("spec"), dict):
        return SpaceSpec.from_dict(obj["spec"])
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict):
        raise CheckpointError(f"{p}: no state_dict found")
    try:
        return infer_spec_from_state(normalise_keys(state))
    except CheckpointError as e:
        raise CheckpointError(f"{p}: {e}") from None


__all__ = ["CHECKPOINT_SUFFIXES", "checkpoint_space", "infer_spec_from_state", "normalise_keys"]
