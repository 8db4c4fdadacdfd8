"""The MobileNet family's search spaces (Cai et al., "Once for All", ICLR 2020) as data: `SpaceSpec`.

`SpaceSpec` is the one source of truth for a space of the family: every channel width, stride, activation
and squeeze-and-excitation flag is derived here, once, with `make_divisible`, exactly as the
official constructors (`OFAMobileNetV3`, `OFAProxylessNASNets`) derive them, from the declaration
of the space's kind (`kinds.SpaceKind`). The supernet, the block keys of latency tables, the
closed-form costs and the exporters all read these fields instead of recomputing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ...errors import SpaceError
from ..family import SpaceFamily, get_family, spec_from_dict
from ..spec import _range_text, conv_out_size, make_divisible, middle_channels
from .kinds import HeadConv, SpaceKind, get_kind, kind_of_name

OFFICIAL_RESOLUTIONS = tuple(range(128, 225, 4))


@dataclass(frozen=True)
class SpaceSpec:
    """An OFA search space: its kind (structure, `kinds.SpaceKind`), choice lists, resolutions and
    the derived layer shapes. Slot `i` of the flat kernel / expand gene arrays is block
    `stage_offsets[s] + j` (`slot(s, j)`); a stage has `stage_max_depths[s]` slots."""

    width_mult: float = 1.0
    ks_list: tuple[int, ...] = (3, 5, 7)
    expand_list: tuple[int, ...] = (3, 4, 6)
    depth_list: tuple[int, ...] = (2, 3, 4)
    resolutions: tuple[int, ...] = OFFICIAL_RESOLUTIONS
    n_classes: int = 1000
    in_channels: int = 3
    kind: str = "ofa_mbv3"
    # Derived fields (filled in __post_init__); not arguments.
    first_conv_width: int = field(init=False)
    first_block_width: int = field(init=False)
    stage_widths: tuple[int, ...] = field(init=False)
    head_widths: tuple[int, ...] = field(init=False)
    last_channel: int = field(init=False)

    def __post_init__(self) -> None:
        info = _mobilenet_kind(self.kind)
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
        w = self.width_mult
        object.__setattr__(self, "first_conv_width", make_divisible(info.base_first_conv * w))
        object.__setattr__(self, "first_block_width", make_divisible(info.base_first_block * w))
        object.__setattr__(self, "stage_widths", tuple(make_divisible(b * w) for b in info.base_stage_widths))
        object.__setattr__(self, "head_widths", tuple(make_divisible(h.base_width * w) for h in info.head))
        object.__setattr__(self, "last_channel", self.head_widths[-1])

    # ---- structure ------------------------------------------------------------------------
    @property
    def kind_info(self) -> SpaceKind:
        """The kind's declared structure (widths, strides, activations, head, key formats)."""
        return get_kind(self.kind)

    @property
    def family(self) -> SpaceFamily:
        """The space's family (`space.family`): what generic code calls."""
        return get_family(self.kind)

    @property
    def n_stages(self) -> int:
        return self.kind_info.n_stages

    @property
    def max_depth(self) -> int:
        """The largest elastic depth (slots per elastic stage)."""
        return self.depth_list[-1]

    @cached_property
    def stage_depth_choices(self) -> tuple[tuple[int, ...], ...]:
        """Depths each stage may take: the space's `depth_list`, or the kind's fixed depth."""
        return tuple(self.depth_list if f is None else (int(f),) for f in self.kind_info.fixed_depths)

    @cached_property
    def stage_max_depths(self) -> tuple[int, ...]:
        return tuple(c[-1] for c in self.stage_depth_choices)

    @cached_property
    def stage_offsets(self) -> tuple[int, ...]:
        """Slot index of each stage's first block."""
        out, i = [], 0
        for m in self.stage_max_depths:
            out.append(i)
            i += m
        return tuple(out)

    @property
    def n_blocks(self) -> int:
        """Elastic block slots (20 for OFA MobileNetV3, 21 for OFA ProxylessNAS)."""
        return sum(self.stage_max_depths)

    def slot(self, stage: int, j: int) -> int:
        """Flat gene index of block `j` of stage `stage`."""
        return self.stage_offsets[stage] + j

    def slots(self) -> Iterator[tuple[int, int, int]]:
        """(slot, stage, index in stage) of every block slot, in order."""
        for s, m in enumerate(self.stage_max_depths):
            for j in range(m):
                yield self.stage_offsets[s] + j, s, j

    @cached_property
    def slot_stage(self) -> np.ndarray:
        """(n_blocks,) stage of each slot."""
        return np.repeat(np.arange(self.n_stages), self.stage_max_depths)

    @cached_property
    def slot_pos(self) -> np.ndarray:
        """(n_blocks,) index of each slot inside its stage."""
        return np.concatenate([np.arange(m) for m in self.stage_max_depths])

    @cached_property
    def depth_table(self) -> np.ndarray:
        """(n_stages, max choices) depth of each (stage, choice index); short rows repeat their last value."""
        width = max(len(c) for c in self.stage_depth_choices)
        return np.array([list(c) + [c[-1]] * (width - len(c)) for c in self.stage_depth_choices], dtype=np.int64)

    @cached_property
    def n_depth_choices(self) -> np.ndarray:
        """(n_stages,) number of depth choices of each stage (1 for a fixed stage)."""
        return np.array([len(c) for c in self.stage_depth_choices], dtype=np.int64)

    def depths_valid(self, d: np.ndarray) -> np.ndarray:
        """(N,) True where every stage depth of `d` (N, n_stages) is one of its stage's choices."""
        d = np.asarray(d)
        top = max(self.stage_max_depths)
        ok = np.zeros((self.n_stages, top + 2), dtype=bool)
        for s, c in enumerate(self.stage_depth_choices):
            ok[s, list(c)] = True
        return ok[np.arange(self.n_stages)[None, :], np.clip(d, 0, top + 1)].all(axis=1)

    def stage_depths(self, values: tuple[int, ...] | list[int]) -> tuple[int, ...]:
        """Per-stage depths with each fixed stage set to its depth (for samplers that draw from
        `depth_list` for every stage, as upstream's `sample_active_subnet` does)."""
        return tuple(int(v) if f is None else int(f) for v, f in zip(values, self.kind_info.fixed_depths))

    @property
    def stage_strides(self) -> tuple[int, ...]:
        return self.kind_info.stage_strides

    @property
    def stage_acts(self) -> tuple[str, ...]:
        return self.kind_info.stage_acts

    @property
    def stage_se(self) -> tuple[bool, ...]:
        return self.kind_info.stage_se

    @property
    def final_expand_width(self) -> int | None:
        """Width of MobileNetV3's final expand conv (None for kinds without one)."""
        for h, w in zip(self.kind_info.head, self.head_widths):
            if h.name == "final_expand_layer":
                return w
        return None

    def head_layers(self) -> tuple[tuple[HeadConv, int, int], ...]:
        """(declaration, in width, out width) of each head conv, in order."""
        out, cin = [], self.stage_widths[-1]
        for h, w in zip(self.kind_info.head, self.head_widths):
            out.append((h, cin, w))
            cin = w
        return tuple(out)

    @property
    def first_block_shortcut(self) -> bool:
        return self.kind_info.first_block_shortcut and self.first_conv_width == self.first_block_width

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
        return tuple(middle_channels(self.block_in_width(s, j), max(self.expand_list)) for _, s, j in self.slots())

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
            "kind": self.kind,
            "width_mult": self.width_mult,
            "ks_list": list(self.ks_list),
            "expand_list": list(self.expand_list),
            "depth_list": list(self.depth_list),
            "resolutions": list(self.resolutions),
            "n_classes": self.n_classes,
            "in_channels": self.in_channels,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """A space dict of the MobileNet family. Kept for callers written before `space.family`:
        a dict of another family's kind is handed to `space.family.spec_from_dict`, the reader of
        any family's space dicts, which new code calls."""
        kind = d.get("kind", "ofa_mbv3") if isinstance(d, dict) else None
        if not isinstance(kind, str) or kind_of_name(kind) is None:
            # not a space dict of this family: the reader of every family's dicts reads it, or says
            # what is wrong (not a mapping, a kind that is no name, an unknown kind)
            return spec_from_dict(d)
        known = {"width_mult", "ks_list", "expand_list", "depth_list", "resolutions", "n_classes", "in_channels"}
        extra = set(d) - known - {"kind"}
        if extra:
            raise SpaceError(f"unknown space field(s) {sorted(extra)}; known: {sorted(known)}")
        args: dict[str, Any] = {"kind": kind}
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
            f"{self.kind_info.title} w{self.width_mult:g}, k{list(self.ks_list)} e{list(self.expand_list)} "
            f"d{list(self.depth_list)}, r {_range_text(self.resolutions)}, {self.n_classes} classes"
        )

    def same_space(self, other: SpaceSpec) -> bool:
        """True when archs of one space are archs of the other, ignoring the resolution list."""
        a, b = self.to_dict(), other.to_dict()
        a.pop("resolutions")
        b.pop("resolutions")
        return a == b


def _mobilenet_kind(name: str) -> SpaceKind:
    """The declared kind of a MobileNet-family space; a kind of another family is refused naming
    its own reader, an unknown one naming the known kinds."""
    if kind_of_name(name) is not None:
        return get_kind(name)
    family = get_family(name)  # unknown kinds fail here, naming the known ones
    raise SpaceError(f"{family.title} spaces have no width multiplier: give a checkpoint of one (--supernet) "
                     f"or a space dict with kind {family.name!r}")


__all__ = ["OFFICIAL_RESOLUTIONS", "SpaceSpec"]
