"""The OFA MobileNetV3 search space (Cai et al., "Once for All", ICLR 2020).

`SpaceSpec` is the one source of truth for the space: every channel width, stride, activation
and squeeze-and-excitation flag is derived here, once, with `make_divisible`, exactly as the
official `OFAMobileNetV3` constructor derives them. The supernet, the block keys of latency
tables, the closed-form costs and the exporters all read these fields instead of recomputing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any

from ..errors import SpaceError

CHANNEL_DIVISIBLE = 8
SE_REDUCTION = 4

# Official MobileNetV3 base widths: first conv, first block, 5 elastic stages, final expand, last.
BASE_STAGE_WIDTH = (16, 16, 24, 40, 80, 112, 160, 960, 1280)
STAGE_STRIDES = (2, 2, 2, 1, 2)
STAGE_ACTS = ("relu", "relu", "h_swish", "h_swish", "h_swish")
STAGE_SE = (False, True, False, True, True)
FIRST_BLOCK_ACT = "relu"
OFFICIAL_RESOLUTIONS = tuple(range(128, 225, 4))


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


@dataclass(frozen=True)
class SpaceSpec:
    """An OFA MobileNetV3 search space: choice lists, resolutions and the derived layer shapes."""

    width_mult: float = 1.0
    ks_list: tuple[int, ...] = (3, 5, 7)
    expand_list: tuple[int, ...] = (3, 4, 6)
    depth_list: tuple[int, ...] = (2, 3, 4)
    resolutions: tuple[int, ...] = OFFICIAL_RESOLUTIONS
    n_classes: int = 1000
    in_channels: int = 3
    # Derived fields (filled in __post_init__); not arguments.
    first_conv_width: int = field(init=False)
    first_block_width: int = field(init=False)
    stage_widths: tuple[int, ...] = field(init=False)
    final_expand_width: int = field(init=False)
    last_channel: int = field(init=False)

    def __post_init__(self) -> None:
        for name in ("ks_list", "expand_list", "depth_list", "resolutions"):
            values = tuple(sorted({int(v) for v in getattr(self, name)}))
            if not values:
                raise SpaceError(f"{name} is empty: give at least one choice")
            object.__setattr__(self, name, values)
        if any(k % 2 == 0 or k < 1 for k in self.ks_list):
            raise SpaceError(f"kernel sizes must be odd and positive, got {list(self.ks_list)}")
        if any(e < 1 for e in self.expand_list):
            raise SpaceError(f"expand ratios must be >= 1, got {list(self.expand_list)}")
        if self.depth_list[0] < 1:
            raise SpaceError(f"depths must be >= 1, got {list(self.depth_list)}")
        if any(r < 8 for r in self.resolutions):
            raise SpaceError(f"resolutions must be >= 8 px, got {list(self.resolutions)}")
        if not (math.isfinite(self.width_mult) and self.width_mult > 0):
            raise SpaceError(f"width_mult must be a finite number > 0, got {self.width_mult}")
        if self.n_classes < 1 or self.in_channels < 1:
            raise SpaceError(f"n_classes and in_channels must be at least 1, got {self.n_classes} and "
                             f"{self.in_channels}")
        widths = [make_divisible(b * self.width_mult) for b in BASE_STAGE_WIDTH[:-2]]
        object.__setattr__(self, "first_conv_width", widths[0])
        object.__setattr__(self, "first_block_width", widths[1])
        object.__setattr__(self, "stage_widths", tuple(widths[2:]))
        object.__setattr__(self, "final_expand_width", make_divisible(BASE_STAGE_WIDTH[-2] * self.width_mult))
        object.__setattr__(self, "last_channel", make_divisible(BASE_STAGE_WIDTH[-1] * self.width_mult))

    # ---- structure ------------------------------------------------------------------------
    @property
    def n_stages(self) -> int:
        return len(STAGE_STRIDES)

    @property
    def max_depth(self) -> int:
        return self.depth_list[-1]

    @property
    def n_blocks(self) -> int:
        """Elastic block slots (20 for the official space): n_stages * max_depth."""
        return self.n_stages * self.max_depth

    @property
    def stage_strides(self) -> tuple[int, ...]:
        return STAGE_STRIDES

    @property
    def stage_acts(self) -> tuple[str, ...]:
        return STAGE_ACTS

    @property
    def stage_se(self) -> tuple[bool, ...]:
        return STAGE_SE

    @cached_property
    def stage_in_widths(self) -> tuple[int, ...]:
        """Input width of each stage's first block."""
        return (self.first_block_width,) + self.stage_widths[:-1]

    def block_in_width(self, stage: int, j: int) -> int:
        """Input width of block `j` of stage `stage`."""
        return self.stage_in_widths[stage] if j == 0 else self.stage_widths[stage]

    def block_stride(self, stage: int, j: int) -> int:
        return self.stage_strides[stage] if j == 0 else 1

    def has_shortcut(self, stage: int, j: int) -> bool:
        return self.block_stride(stage, j) == 1 and self.block_in_width(stage, j) == self.stage_widths[stage]

    @cached_property
    def max_middle_widths(self) -> tuple[int, ...]:
        """Middle width of every block slot at the largest expand ratio (supernet tensor sizes)."""
        return tuple(
            middle_channels(self.block_in_width(s, j), max(self.expand_list))
            for s in range(self.n_stages)
            for j in range(self.max_depth)
        )

    def resolution_sides(self, r: int) -> dict[str, int]:
        """Feature-map sides at a resolution: after the stem, and after each stage."""
        side = conv_out_size(r, 2)
        sides = {"stem": side}
        for s, stride in enumerate(self.stage_strides):
            side = conv_out_size(side, stride)
            sides[f"stage{s}"] = side
        return sides

    # ---- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "ofa_mbv3",
            "width_mult": self.width_mult,
            "ks_list": list(self.ks_list),
            "expand_list": list(self.expand_list),
            "depth_list": list(self.depth_list),
            "resolutions": list(self.resolutions),
            "n_classes": self.n_classes,
            "in_channels": self.in_channels,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpaceSpec:
        if not isinstance(d, dict):
            raise SpaceError(f"a space must be a mapping, got {type(d).__name__}")
        kind = d.get("kind", "ofa_mbv3")
        if kind != "ofa_mbv3":
            raise SpaceError(f"unknown space kind {kind!r}: only 'ofa_mbv3' (OFA MobileNetV3) is supported")
        known = {"width_mult", "ks_list", "expand_list", "depth_list", "resolutions", "n_classes", "in_channels"}
        extra = set(d) - known - {"kind"}
        if extra:
            raise SpaceError(f"unknown space field(s) {sorted(extra)}; known: {sorted(known)}")
        args: dict[str, Any] = {}
        for k in known & set(d):
            v = d[k]
            args[k] = tuple(v) if isinstance(v, (list, tuple)) else v
        try:
            return cls(**args)
        except SpaceError:
            raise
        except (TypeError, ValueError) as e:  # wrong value types ("abc" where a number belongs)
            raise SpaceError(f"invalid space description: {e}") from None

    def describe(self) -> str:
        return (
            f"OFA-MobileNetV3 w{self.width_mult:g}, k{list(self.ks_list)} e{list(self.expand_list)} "
            f"d{list(self.depth_list)}, r {_range_text(self.resolutions)}, {self.n_classes} classes"
        )

    def same_space(self, other: SpaceSpec) -> bool:
        """True when archs of one space are archs of the other, ignoring the resolution list."""
        a, b = self.to_dict(), other.to_dict()
        a.pop("resolutions")
        b.pop("resolutions")
        return a == b


def _range_text(values: tuple[int, ...]) -> str:
    if len(values) > 2:
        step = values[1] - values[0]
        if all(b - a == step for a, b in pairwise(values)):
            return f"{values[0]}..{values[-1]} step {step}"
    return ",".join(str(v) for v in values)


def official_space(width_mult: float = 1.2, n_classes: int = 1000) -> SpaceSpec:
    """The space of the released OFA MobileNetV3 supernets (w1.0 and w1.2, ImageNet)."""
    return SpaceSpec(width_mult=width_mult, n_classes=n_classes)
