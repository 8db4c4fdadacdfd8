"""What every family's space shares: the channel arithmetic of the official constructors
(`make_divisible`, `middle_channels`, `se_channels`, `conv_out_size`), how commands write a list of
resolutions (`_range_text`), and the released spaces of any family by kind (`official_space`,
`official_table_space`, asked of the family).

Each family's spec class is its own (`space.mobilenet.spec.SpaceSpec`, `space.resnet50.spec.ResNet50Spec`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from .family import get_family

CHANNEL_DIVISIBLE = 8
SE_REDUCTION = 4


def make_divisible(v: float, divisor: int = CHANNEL_DIVISIBLE, min_val: int | None = None) -> int:
    """Round `v` to a multiple of `divisor`, never more than 10% below `v` (upstream helper)."""
    if min_val is None:
        min_val = divisor
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def middle_channels(in_channels: int, expand_ratio: float) -> int:
    """Inverted-bottleneck width of a block: `make_divisible(round(in * e), 8)`."""
    return make_divisible(round(in_channels * expand_ratio), CHANNEL_DIVISIBLE)


def se_channels(mid: int) -> int:
    """Squeeze-and-excitation hidden width: `make_divisible(mid // 4, 8)`."""
    return make_divisible(mid // SE_REDUCTION, CHANNEL_DIVISIBLE)


def conv_out_size(size: int, stride: int) -> int:
    """Output side of a 'same'-padded conv with an odd kernel."""
    return (size - 1) // stride + 1


def _range_text(values: tuple[int, ...]) -> str:
    """`128..224 step 4` (an even range) or `24,32`: how every command writes a list of resolutions."""
    if len(values) > 2:
        step = values[1] - values[0]
        if all(b - a == step for a, b in pairwise(values)):
            return f"{values[0]}..{values[-1]} step {step}"
    return ",".join(str(v) for v in values)


def official_space(width_mult: float | None = None, n_classes: int = 1000, kind: str = "ofa_mbv3") -> Any:
    """The space of a released OFA supernet (MobileNetV3 w1.0 / w1.2, ProxylessNAS w1.3, ResNet50;
    ImageNet); `width_mult` defaults to the kind's released one (the MobileNet family's only)."""
    return get_family(kind).official_space(width_mult, n_classes)


def official_table_space(width_mult: float | None, n_classes: int, in_channels: int, kind: str,
                         expand_list: tuple[int, ...] | None = None) -> Any:
    """The space of official per-resolution lookup tables being imported: the kind's released space
    with the given classes and input channels. `width_mult` and `expand_list` (None: the released
    ones) describe the MobileNet kinds; a family with lists of its own (ResNet50) refuses them."""
    return get_family(kind).table_space(width_mult, n_classes, in_channels, expand_list)


__all__ = ["CHANNEL_DIVISIBLE", "conv_out_size", "make_divisible", "middle_channels", "official_space",
           "official_table_space", "se_channels"]
