"""The OFA ResNet50 space and its subnets as data: `ResNet50Spec` (choice lists, stage widths,
every derived width) and `ResNetArch` (the official arch dict), with their validation.

Every width, stride and block count is derived once here, exactly as the official
`OFAResNets.__init__` derives them (see the package docstring for the genes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import Any

from ...errors import SpaceError
from ..arch import arch_dict_fields, middle_choice
from ..family import SpaceFamily, get_family
from ..spec import CHANNEL_DIVISIBLE, make_divisible, middle_channels

KIND = "ofa_resnet50"
BASE_DEPTH_LIST = (2, 2, 4, 2)
STAGE_WIDTH_LIST = (256, 512, 1024, 2048)  # official `ResNets.STAGE_WIDTH_LIST`
STAGE_STRIDES = (1, 2, 2, 2)
STEM_WIDTH = 64
KERNEL_SIZE = 3
ACT = "relu"
DOWNSAMPLE_MODE = "avgpool_conv"
# Upstream trains OFA ResNet50 at 128,160,192,224; the arch dicts also use the 16 px steps between.
RESOLUTIONS = tuple(range(128, 225, 16))
BN_PARAM = {"momentum": 0.1, "eps": 1e-05, "ws_eps": None}
EXPAND_TOL = 1e-9


def _float_tuple(values: Any, name: str) -> tuple[float, ...]:
    try:
        out = tuple(sorted({float(v) for v in values}))
    except (TypeError, ValueError):
        raise SpaceError(f"{name} must be a list of numbers, got {values!r}") from None
    if not out:
        raise SpaceError(f"{name} is empty: give at least one choice")
    return out


@dataclass(frozen=True)
class ResNet50Spec:
    """An OFA ResNet50 space: choice lists, stage base widths, resolutions and derived widths."""

    depth_list: tuple[int, ...] = (0, 1, 2)
    expand_list: tuple[float, ...] = (0.2, 0.25, 0.35)
    width_mult_list: tuple[float, ...] = (0.65, 0.8, 1.0)
    stage_base_widths: tuple[int, ...] = STAGE_WIDTH_LIST
    resolutions: tuple[int, ...] = RESOLUTIONS
    n_classes: int = 1000
    in_channels: int = 3
    # Derived (filled in __post_init__): one tuple per width choice, in width_mult_list order.
    stem_mid_widths: tuple[int, ...] = field(init=False)
    stem_widths: tuple[int, ...] = field(init=False)
    stage_widths: tuple[tuple[int, ...], ...] = field(init=False)

    def __post_init__(self) -> None:
        try:
            depths = tuple(sorted({int(v) for v in self.depth_list}))
            resolutions = tuple(sorted({int(v) for v in self.resolutions}))
            bases = tuple(int(v) for v in self.stage_base_widths)
        except (TypeError, ValueError):
            raise SpaceError("depth_list, resolutions and stage_base_widths must hold integers") from None
        if not depths or not resolutions:
            raise SpaceError("depth_list and resolutions need at least one choice each")
        object.__setattr__(self, "depth_list", depths)
        object.__setattr__(self, "resolutions", resolutions)
        object.__setattr__(self, "stage_base_widths", bases)
        object.__setattr__(self, "expand_list", _float_tuple(self.expand_list, "expand_list"))
        object.__setattr__(self, "width_mult_list", _float_tuple(self.width_mult_list, "width_mult_list"))
        if depths[0] < 0:
            raise SpaceError(f"depths are added to the base depths {list(BASE_DEPTH_LIST)} and must be >= 0, "
                             f"got {list(depths)}")
        if any(not (math.isfinite(e) and e > 0) for e in self.expand_list):
            raise SpaceError(f"expand ratios must be finite and > 0, got {list(self.expand_list)}")
        if any(not (math.isfinite(m) and m > 0) for m in self.width_mult_list):
            raise SpaceError(f"width multipliers must be finite and > 0, got {list(self.width_mult_list)}")
        if len(bases) != len(BASE_DEPTH_LIST) or any(b < 1 for b in bases):
            raise SpaceError(f"stage_base_widths needs {len(BASE_DEPTH_LIST)} positive widths (official "
                             f"{list(STAGE_WIDTH_LIST)}), got {list(bases)}")
        if any(r < 32 for r in resolutions):
            raise SpaceError(f"resolutions must be >= 32 px (the net downsamples by 32), got {list(resolutions)}")
        if self.n_classes < 1 or self.in_channels < 1:
            raise SpaceError(f"n_classes and in_channels must be at least 1, got {self.n_classes} and "
                             f"{self.in_channels}")
        stem = tuple(make_divisible(STEM_WIDTH * m, CHANNEL_DIVISIBLE) for m in self.width_mult_list)
        object.__setattr__(self, "stem_widths", stem)
        object.__setattr__(self, "stem_mid_widths",
                           tuple(make_divisible(c // 2, CHANNEL_DIVISIBLE) for c in stem))
        object.__setattr__(self, "stage_widths", tuple(
            tuple(make_divisible(b * m, CHANNEL_DIVISIBLE) for m in self.width_mult_list) for b in bases))
        clash = sorted(set(stem) & set(self.stage_widths[0]))
        if clash:
            # Upstream's static subnet would then replace stage 1's first downsample conv by an identity
            # that the supernet never trained: its extracted subnets would not compute the supernet.
            raise SpaceError(f"stage 1 widths {list(self.stage_widths[0])} share {clash} with the stem widths "
                             f"{list(stem)}; choose a stage 1 base width whose multiples differ from the stem's")

    # ---- structure ------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return KIND

    @property
    def family(self) -> SpaceFamily:
        """The space's family (`space.family`): what generic code calls."""
        return get_family(KIND)

    @property
    def n_stages(self) -> int:
        return len(BASE_DEPTH_LIST)

    @property
    def max_depth(self) -> int:
        return self.depth_list[-1]

    @property
    def n_widths(self) -> int:
        """Width genes: the stem's first two convs, its third conv, and one per stage (6)."""
        return self.n_stages + 2

    @cached_property
    def stage_slots(self) -> tuple[int, ...]:
        """Block slots per stage in the supernet: base depth + max(depth_list)."""
        return tuple(b + self.max_depth for b in BASE_DEPTH_LIST)

    @cached_property
    def stage_starts(self) -> tuple[int, ...]:
        """Index of each stage's first block slot."""
        return (0, *accumulate(self.stage_slots))[:-1]

    @property
    def n_blocks(self) -> int:
        """Block slots (18 for the official space), one expand ratio each."""
        return sum(self.stage_slots)

    @cached_property
    def slot_stage(self) -> tuple[int, ...]:
        return tuple(s for s, n in enumerate(self.stage_slots) for _ in range(n))

    @cached_property
    def slot_index(self) -> tuple[int, ...]:
        """Position of each slot inside its stage."""
        return tuple(j for n in self.stage_slots for j in range(n))

    @property
    def stage_strides(self) -> tuple[int, ...]:
        return STAGE_STRIDES

    def stage_depth(self, s: int, d: int) -> int:
        """Blocks that run in stage `s` for depth gene `d`."""
        return BASE_DEPTH_LIST[s] + d

    def max_middle_width(self, s: int) -> int:
        """Middle width of stage `s`'s blocks in the supernet (largest width and expand ratio)."""
        return middle_channels(max(self.stage_widths[s]), max(self.expand_list))

    def resolution_sides(self, r: int) -> dict[str, int]:
        """Feature-map sides: after the stem, after max pooling, and after each stage."""
        side = (r - 1) // 2 + 1
        sides = {"stem": side}
        side = (side - 1) // 2 + 1
        sides["pool"] = side
        for s, stride in enumerate(STAGE_STRIDES):
            side = (side - 1) // stride + 1
            sides[f"stage{s}"] = side
        return sides

    # ---- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "depth_list": list(self.depth_list),
            "expand_list": list(self.expand_list),
            "width_mult_list": list(self.width_mult_list),
            "stage_base_widths": list(self.stage_base_widths),
            "resolutions": list(self.resolutions),
            "n_classes": self.n_classes,
            "in_channels": self.in_channels,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResNet50Spec:
        if not isinstance(d, dict):
            raise SpaceError(f"a space must be a mapping, got {type(d).__name__}")
        if d.get("kind", KIND) != KIND:
            raise SpaceError(f"space kind {d.get('kind')!r} is not {KIND!r}")
        known = {"depth_list", "expand_list", "width_mult_list", "stage_base_widths", "resolutions",
                 "n_classes", "in_channels"}
        extra = set(d) - known - {"kind"}
        if extra:
            raise SpaceError(f"unknown {KIND} space field(s) {sorted(extra)}; known: {sorted(known)}")
        args = {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items() if k in known}
        try:
            return cls(**args)
        except SpaceError:
            raise
        except (TypeError, ValueError) as e:
            raise SpaceError(f"invalid {KIND} space description: {e}") from None

    def describe(self) -> str:
        return (f"OFA-ResNet50 stages {list(self.stage_base_widths)}, d{list(self.depth_list)} "
                f"e{list(self.expand_list)} w{list(self.width_mult_list)}, r {list(self.resolutions)}, "
                f"{self.n_classes} classes")

    def same_space(self, other: Any) -> bool:
        """True when archs of one space are archs of the other, ignoring the resolution list."""
        if not isinstance(other, ResNet50Spec):
            return False
        a, b = self.to_dict(), other.to_dict()
        a.pop("resolutions")
        b.pop("resolutions")
        return a == b


def official_resnet50_space(n_classes: int = 1000) -> ResNet50Spec:
    """The space of the released `ofa_resnet50` supernet (ImageNet)."""
    return ResNet50Spec(n_classes=n_classes)


# ---- arch ------------------------------------------------------------------------------------
def _ints(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise SpaceError(f"arch field {name!r} must be a list of integers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v):
            raise SpaceError(f"arch field {name!r} must hold integers, got {list(value)!r}")
        out.append(int(v))
    return tuple(out)


def _floats(value: Any, name: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)):
        raise SpaceError(f"arch field {name!r} must be a list of numbers, got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
        raise SpaceError(f"arch field {name!r} must hold finite numbers, got {list(value)!r}")
    return tuple(float(v) for v in value)


def _choice(value: float, choices: Sequence[float]) -> float | None:
    for c in choices:
        if abs(value - c) <= EXPAND_TOL:
            return c
    return None


@dataclass(frozen=True)
class ResNetArch:
    """One subnet of an OFA ResNet50 space (the official arch dict, plus its resolution)."""

    d: tuple[int, ...]
    e: tuple[float, ...]
    w: tuple[int, ...]
    r: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", _ints(self.d, "d"))
        object.__setattr__(self, "e", _floats(self.e, "e"))
        object.__setattr__(self, "w", _ints(self.w, "w"))
        if isinstance(self.r, (list, tuple)):
            raise SpaceError(f"arch resolution must be one integer, got {self.r!r}")
        object.__setattr__(self, "r", _ints([self.r], "r")[0])

    @property
    def kind(self) -> str:
        return KIND

    def skip_stem(self, spec: ResNet50Spec) -> bool:
        """True when the stem's residual conv is skipped (upstream: `d[0] != max(depth_list)`)."""
        return self.d[0] != spec.max_depth

    def validate(self, spec: ResNet50Spec, check_resolution: bool = True) -> ResNetArch:
        """Raise `SpaceError` naming the first problem; return the arch with expand ratios snapped to
        the space's exact choice values (so 0.35000000001 from a file reads as 0.35)."""
        ns, nb, nw = spec.n_stages, spec.n_blocks, spec.n_widths
        if len(self.d) != ns + 1:
            raise SpaceError(f"d has {len(self.d)} values; this space needs {ns + 1} (the input-stem flag, "
                             f"then one depth per stage)")
        if len(self.e) != nb:
            raise SpaceError(f"e has {len(self.e)} expand ratios; this space needs {nb} (one per block slot)")
        if len(self.w) != nw:
            raise SpaceError(f"w has {len(self.w)} width indices; this space needs {nw} (2 for the input stem, "
                             f"one per stage)")
        stem_choices = sorted({spec.depth_list[0], spec.max_depth})
        if self.d[0] not in stem_choices:
            raise SpaceError(f"d[0] = {self.d[0]} is not an input-stem choice: give {spec.max_depth} to keep the "
                             f"stem's residual conv or {spec.depth_list[0]} to skip it")
        for s, depth in enumerate(self.d[1:]):
            if depth not in spec.depth_list:
                raise SpaceError(f"stage {s + 1} depth {depth} is not in the space's depths {list(spec.depth_list)} "
                                 f"(added to the base depth {BASE_DEPTH_LIST[s]})")
        for i, wi in enumerate(self.w):
            if not 0 <= wi < len(spec.width_mult_list):
                raise SpaceError(f"w[{i}] = {wi} is not a width index: give 0..{len(spec.width_mult_list) - 1} "
                                 f"(over width_mult_list {list(spec.width_mult_list)})")
        e = [v if (c := _choice(v, spec.expand_list)) is None else c for v in self.e]
        for i in self.active_slots(spec):
            c = _choice(self.e[i], spec.expand_list)
            if c is None:
                raise SpaceError(f"block {i} expand ratio {self.e[i]:g} is not in the space's expand ratios "
                                 f"{list(spec.expand_list)}")
        if check_resolution and self.r not in spec.resolutions:
            raise SpaceError(f"resolution {self.r} is not in the space's resolutions {list(spec.resolutions)}")
        if self.r < 32:
            raise SpaceError(f"resolution {self.r} is too small (minimum 32 px)")
        return self if tuple(e) == self.e else ResNetArch(self.d, tuple(e), self.w, self.r)

    # ---- structure ------------------------------------------------------------------------
    def active_slots(self, spec: ResNet50Spec) -> Iterator[int]:
        for s, depth in enumerate(self.d[1:]):
            for j in range(spec.stage_depth(s, depth)):
                yield spec.stage_starts[s] + j

    def stem(self, spec: ResNet50Spec) -> tuple[int, int]:
        """(width of the stem's first two convs, width of its third conv)."""
        return spec.stem_mid_widths[self.w[0]], spec.stem_widths[self.w[1]]

    def blocks(self, spec: ResNet50Spec) -> Iterator[dict[str, Any]]:
        """The active bottleneck blocks in order, with every shape they need (read from `spec`)."""
        cin = self.stem(spec)[1]
        for s, depth in enumerate(self.d[1:]):
            cout = spec.stage_widths[s][self.w[2 + s]]
            for j in range(spec.stage_depth(s, depth)):
                i = spec.stage_starts[s] + j
                stride = STAGE_STRIDES[s] if j == 0 else 1
                yield {
                    "slot": i,
                    "stage": s,
                    "index_in_stage": j,
                    "in_channels": cin,
                    "out_channels": cout,
                    "mid_channels": middle_channels(cout, self.e[i]),
                    "expand_ratio": self.e[i],
                    "stride": stride,
                    "downsample": not (stride == 1 and cin == cout),
                }
                cin = cout

    def last_width(self, spec: ResNet50Spec) -> int:
        return spec.stage_widths[-1][self.w[-1]]

    def canonical(self, spec: ResNet50Spec) -> ResNetArch:
        """The same subnet written one way: unused slots at the smallest expand ratio, and each width
        index the smallest one giving the same channels (the official stem's first two convs have 24
        channels at both 0.65 and 0.8, so `w[0]` 0 and 1 are one subnet)."""
        arch = self.validate(spec, check_resolution=False)
        active = set(arch.active_slots(spec))
        e = tuple(x if i in active else spec.expand_list[0] for i, x in enumerate(arch.e))
        lists = (spec.stem_mid_widths, spec.stem_widths, *spec.stage_widths)
        w = tuple(widths.index(widths[i]) for widths, i in zip(lists, arch.w))
        return ResNetArch(arch.d, e, w, arch.r)

    def with_resolution(self, r: int) -> ResNetArch:
        return ResNetArch(self.d, self.e, self.w, r)

    # ---- plain dicts ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"d": list(self.d), "e": list(self.e), "w": list(self.w), "r": self.r}

    def to_official(self) -> dict[str, Any]:
        """The official arch dict (`OFAResNets.set_active_subnet(**arch)` plus `image_size`)."""
        return {"d": list(self.d), "e": list(self.e), "w": list(self.w), "image_size": self.r}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResNetArch:
        """Read `{d, e, w, r}` or the official `{d, e, w, image_size}`."""
        (depths, e, w), r = arch_dict_fields(d, ("d", "e", "w"), "image_size",
                                             "arch has no resolution: give 'image_size' (or 'r')", family="ResNet50 ")
        return cls(depths, e, w, r)

    def short(self) -> str:
        return f"d{''.join(map(str, self.d))}w{''.join(map(str, self.w))}@{self.r}"


def largest_resnet_arch(spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
    return ResNetArch((spec.max_depth,) * (spec.n_stages + 1), (spec.expand_list[-1],) * spec.n_blocks,
                      (len(spec.width_mult_list) - 1,) * spec.n_widths, r if r is not None else spec.resolutions[-1])


def middle_resnet_arch(spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
    """The middle choice of every gene (the stem kept; for reports and suggested budgets)."""
    mid = len(spec.width_mult_list) // 2
    e = middle_choice(spec.expand_list)
    d = middle_choice(spec.depth_list)
    r = r if r is not None else middle_choice(spec.resolutions)
    return ResNetArch((spec.max_depth,) + (d,) * spec.n_stages, (e,) * spec.n_blocks, (mid,) * spec.n_widths, r)


def smallest_resnet_arch(spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
    return ResNetArch((spec.depth_list[0],) * (spec.n_stages + 1), (spec.expand_list[0],) * spec.n_blocks,
                      (0,) * spec.n_widths, r if r is not None else spec.resolutions[0])
