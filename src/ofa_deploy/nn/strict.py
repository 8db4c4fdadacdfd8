"""Strict state-dict loading with one readable error: what is missing, unexpected or mis-shaped.

One function for every supernet kind (the MobileNet family and ResNet50 normalise their key styles
first, then load here)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import CheckpointError


def strict_load(model: nn.Module, state: dict[str, torch.Tensor], source: str, describe: str) -> None:
    """Load `state` (keys already in the model's style) or raise `CheckpointError` naming the misfit."""
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
        raise CheckpointError(f"{source} does not fit the supernet {describe}; " + "; ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
