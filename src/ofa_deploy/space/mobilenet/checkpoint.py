"""The space of an official MobileNet-family checkpoint, from its tensor shapes (`infer_mobilenet_spec`;
`space.checkpoint` finds the family by the checkpoint's top-level modules, then asks it)."""

from __future__ import annotations

from typing import Any

from ...errors import CheckpointError, OfaDeployError, SpaceError
from .kinds import SpaceKind
from .netconfig import infer_space
from .spec import SpaceSpec


def infer_mobilenet_spec(kind: SpaceKind, state: dict[str, Any]) -> SpaceSpec:
    """The space of an official checkpoint of a MobileNet-family kind, from its tensor shapes."""
    try:
        first = state["first_conv.conv.weight"]
        n_classes = state["classifier.linear.weight"].shape[0]
        heads = [int(state[f"{h.name}.conv.weight"].shape[0]) for h in kind.head]
        n_blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        fixed = sum(f for f in kind.fixed_depths if f is not None)
        elastic = len(kind.elastic_stages)
        max_depth = (n_blocks - 1 - fixed) // elastic
        probe = SpaceSpec(depth_list=(max_depth,), kind=kind.name)  # slot layout at this depth
        widths = [state[f"blocks.{1 + probe.slot(s, 0)}.conv.point_linear.conv.conv.weight"].shape[0]
                  for s in range(kind.n_stages)]
        k_max = state["blocks.1.conv.depth_conv.conv.conv.weight"].shape[-1]
    except (KeyError, ValueError, IndexError, AttributeError, SpaceError) as e:
        raise CheckpointError(f"checkpoint is not an {kind.title} supernet (missing or malformed {e})") from None
    if 1 + probe.n_blocks != n_blocks:
        raise CheckpointError(f"checkpoint has {n_blocks} blocks; an {kind.title} supernet of depth {max_depth} "
                              f"has {1 + probe.n_blocks}")
    ks = tuple(k for k in (3, 5, 7) if k <= k_max)
    depths = tuple(d for d in (2, 3, 4) if d <= max_depth) or (max_depth,)
    try:
        spec = infer_space(int(first.shape[0]), widths, None, None, int(n_classes), int(first.shape[1]),
                           kind=kind.name, head_widths=heads)
    except OfaDeployError as e:
        raise CheckpointError(str(e)) from None
    return SpaceSpec(width_mult=spec.width_mult, ks_list=ks, depth_list=depths, n_classes=int(n_classes),
                     in_channels=int(first.shape[1]), kind=kind.name)


__all__ = ["infer_mobilenet_spec"]
