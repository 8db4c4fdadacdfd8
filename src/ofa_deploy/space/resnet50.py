"""The OFA ResNet50 search space (Cai et al., "Once for All", ICLR 2020; ResNet-D stem of He et al.,
"Bag of Tricks", 2019), as plain data: spec, arch, official formats, closed-form costs, encodings.

Why a module of its own: the space shares nothing structural with MobileNetV3 (no kernel choice;
elastic *width* per stage; expand ratios relative to the block's *output* width; an input stem whose
residual conv can be skipped), so it gets its own spec and arch instead of flags in `SpaceSpec`.
Every width, stride and block count is derived once here, exactly as the official
`OFAResNets.__init__` derives them, and read by the supernet (`nn.resnet50`), the costs and the
encodings below.

An arch is the official arch dict `{"d", "e", "w", "image_size"}`:
* `d`: 5 values. `d[0]` is the input-stem flag: the stem's residual 3x3 conv runs when
  `d[0] == max(depth_list)` (2) and is skipped otherwise (0), as `OFAResNets.set_active_subnet`.
  `d[1:]` are added to the base depths `[2, 2, 4, 2]` of the 4 stages.
* `e`: 18 expand ratios, one per block slot (each stage holds base + max(depth_list) slots); the
  middle width of a block is `make_divisible(round(out_channels * e), 8)`. Slots beyond a stage's
  depth carry no meaning (upstream's `feature2arch` writes 0 there): they are not validated.
* `w`: 6 indices into `width_mult_list`: the stem's first two convs, its third conv, the 4 stages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate
from typing import Any

import numpy as np

from ..errors import CheckpointError, FormatError, SpaceError
from .spec import CHANNEL_DIVISIBLE, make_divisible, middle_channels

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
_E_TOL = 1e-9


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
    def kind_info(self) -> ResNet50Kind:
        return RESNET50_KIND

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
        if abs(value - c) <= _E_TOL:
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
        if not isinstance(d, dict):
            raise SpaceError(f"a ResNet50 arch must be a mapping with d, e, w and image_size, got {type(d).__name__}")
        missing = [k for k in ("d", "e", "w") if k not in d]
        if missing:
            raise SpaceError(f"ResNet50 arch is missing {', '.join(missing)} (expected keys: d, e, w, image_size)")
        for key in ("r", "image_size", "resolution"):
            if key in d:
                r = d[key]
                break
        else:
            raise SpaceError("arch has no resolution: give 'image_size' (or 'r')")
        if isinstance(r, (list, tuple)):
            if len(r) != 1 and not (len(r) == 2 and r[0] == r[1]):
                raise SpaceError(f"arch resolution must be one value, got {list(r)}")
            r = r[0]
        return cls(d["d"], d["e"], d["w"], r)

    def short(self) -> str:
        return f"d{''.join(map(str, self.d))}w{''.join(map(str, self.w))}@{self.r}"


def largest_resnet_arch(spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
    return ResNetArch((spec.max_depth,) * (spec.n_stages + 1), (spec.expand_list[-1],) * spec.n_blocks,
                      (len(spec.width_mult_list) - 1,) * spec.n_widths, r if r is not None else spec.resolutions[-1])


def middle_resnet_arch(spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
    """The middle choice of every gene (the stem kept; for reports and suggested budgets)."""
    mid = len(spec.width_mult_list) // 2
    e = sorted(spec.expand_list)[len(spec.expand_list) // 2]
    d = sorted(spec.depth_list)[len(spec.depth_list) // 2]
    r = r if r is not None else sorted(spec.resolutions)[len(spec.resolutions) // 2]
    return ResNetArch((spec.max_depth,) + (d,) * spec.n_stages, (e,) * spec.n_blocks, (mid,) * spec.n_widths, r)


def smallest_resnet_arch(spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
    return ResNetArch((spec.depth_list[0],) * (spec.n_stages + 1), (spec.expand_list[0],) * spec.n_blocks,
                      (0,) * spec.n_widths, r if r is not None else spec.resolutions[0])


# ---- official net.config ---------------------------------------------------------------------
def _conv(cin: int, cout: int, stride: int) -> dict[str, Any]:
    return {"name": "ConvLayer", "kernel_size": KERNEL_SIZE, "stride": stride, "dilation": 1, "groups": 1,
            "bias": False, "has_shuffle": False, "use_se": False, "in_channels": cin, "out_channels": cout,
            "use_bn": True, "act_func": ACT, "dropout_rate": 0, "ops_order": "weight_bn_act"}


def to_net_config(spec: ResNet50Spec, arch: ResNetArch, dropout_rate: float = 0) -> dict[str, Any]:
    """The official `ResNets.config` of the extracted subnet (`OFAResNets.get_active_subnet().config`)."""
    arch = arch.validate(spec, check_resolution=False)
    mid, stem_out = arch.stem(spec)
    stem: list[dict[str, Any]] = [_conv(spec.in_channels, mid, 2)]
    if not arch.skip_stem(spec):
        stem.append({"name": "ResidualBlock", "conv": _conv(mid, mid, 1),
                     "shortcut": {"name": "IdentityLayer", "in_channels": mid, "out_channels": mid, "use_bn": False,
                                  "act_func": None, "dropout_rate": 0, "ops_order": "weight_bn_act"}})
    stem.append(_conv(mid, stem_out, 1))
    blocks = [{"name": "ResNetBottleneckBlock", "in_channels": b["in_channels"], "out_channels": b["out_channels"],
               "kernel_size": KERNEL_SIZE, "stride": b["stride"], "expand_ratio": b["expand_ratio"],
               "mid_channels": b["mid_channels"], "act_func": ACT, "groups": 1, "downsample_mode": DOWNSAMPLE_MODE}
              for b in arch.blocks(spec)]
    classifier = {"name": "LinearLayer", "in_features": arch.last_width(spec), "out_features": spec.n_classes,
                  "bias": True, "use_bn": False, "act_func": None, "dropout_rate": dropout_rate,
                  "ops_order": "weight_bn_act"}
    return {"name": "ResNets", "bn": dict(BN_PARAM), "input_stem": stem, "blocks": blocks, "classifier": classifier}


def _width_index(widths: Sequence[int], c: Any, what: str) -> int:
    if c not in widths:
        raise FormatError(f"{what} has {c} channels, not one of this space's widths {list(widths)}; pass the "
                          "space the net belongs to (its stage widths)")
    return list(widths).index(c)


def from_net_config(cfg: dict[str, Any], spec: ResNet50Spec | None = None,
                    image_size: int | None = None) -> tuple[ResNet50Spec, ResNetArch]:
    """Read an official `ResNets` net.config (a subnet of an OFA ResNet50 space) back into an arch.

    `spec` defaults to the official space (1000 classes replaced by the config's classifier width).
    Every layer is checked against what the space would build, so a config from another family,
    or one edited by hand into something the supernet cannot produce, fails with the reason.
    """
    try:
        return _from_net_config(cfg, spec, image_size)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else f"malformed value: {e}"
        raise FormatError(f"not an OFA ResNets net.config ({what})") from None


def _from_net_config(cfg: dict[str, Any], spec: ResNet50Spec | None,
                     image_size: int | None) -> tuple[ResNet50Spec, ResNetArch]:
    if not isinstance(cfg, dict) or cfg.get("name") != "ResNets":
        name = cfg.get("name") if isinstance(cfg, dict) else type(cfg).__name__
        raise FormatError(f"net.config name is {name!r}, not 'ResNets'")
    n_classes = int(cfg["classifier"]["out_features"])
    spec = spec or ResNet50Spec(n_classes=n_classes)
    if spec.n_classes != n_classes:
        raise FormatError(f"the net has {n_classes} classes, the space {spec.n_classes}")
    stem = cfg["input_stem"]
    if len(stem) not in (2, 3):
        raise FormatError(f"input_stem has {len(stem)} layers; an OFA ResNet50 stem has 3 (or 2 when skipped)")
    skip = len(stem) == 2
    w0 = _width_index(spec.stem_mid_widths, stem[0]["out_channels"], "the stem's first conv")
    w1 = _width_index(spec.stem_widths, stem[-1]["out_channels"], "the stem's last conv")
    blocks = cfg["blocks"]
    # Stages start where a block strides (stage 1 starts at block 0, stride 1).
    starts = [0] + [i for i, b in enumerate(blocks) if int(b["stride"]) == 2]
    if len(starts) != spec.n_stages:
        raise FormatError(f"the blocks form {len(starts)} stages (by their strides); an OFA ResNet50 has "
                          f"{spec.n_stages}")
    ends = starts[1:] + [len(blocks)]
    d = [spec.depth_list[0] if skip else spec.max_depth]
    e = [spec.expand_list[0]] * spec.n_blocks
    w = [w0, w1]
    for s, (a, b) in enumerate(zip(starts, ends)):
        depth = (b - a) - BASE_DEPTH_LIST[s]
        if depth not in spec.depth_list:
            raise FormatError(f"stage {s + 1} has {b - a} blocks; this space allows "
                              f"{[BASE_DEPTH_LIST[s] + x for x in spec.depth_list]}")
        d.append(depth)
        w.append(_width_index(spec.stage_widths[s], blocks[a]["out_channels"], f"stage {s + 1}"))
        for j in range(a, b):
            e[spec.stage_starts[s] + j - a] = float(blocks[j]["expand_ratio"])
    r = image_size if image_size is not None else spec.resolutions[-1]
    try:
        arch = ResNetArch(d, e, w, r).validate(spec, check_resolution=False)
    except SpaceError as err:
        raise FormatError(f"net.config is not a subnet of {spec.describe()}: {err}") from None
    expected = to_net_config(spec, arch, dropout_rate=cfg["classifier"].get("dropout_rate", 0))
    _check_same(cfg, expected)
    return spec, arch


def _check_same(cfg: dict[str, Any], expected: dict[str, Any]) -> None:
    """Compare the layers that define the computation (names, channels, strides, mid widths)."""
    def layers(c: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for i, layer in enumerate(c["input_stem"]):
            out.append((f"input_stem[{i}]", layer["conv"] if layer["name"] == "ResidualBlock" else layer))
        out += [(f"blocks[{i}]", b) for i, b in enumerate(c["blocks"])]
        out.append(("classifier", c["classifier"]))
        return out

    keys = ("name", "in_channels", "out_channels", "kernel_size", "stride", "mid_channels", "groups",
            "downsample_mode", "act_func", "in_features", "out_features", "use_bn", "bias")
    for (where, got), (_, want) in zip(layers(cfg), layers(expected)):
        for k in keys:
            if k in want and got.get(k, want[k]) != want[k]:
                raise FormatError(f"net.config {where} has {k} = {got.get(k)!r}; an OFA ResNet50 subnet with these "
                                  f"widths and expand ratios has {want[k]!r}")


# ---- closed-form costs -----------------------------------------------------------------------
@dataclass
class ResNetBatch:
    """Many archs as arrays: d (N, 5), e (N, n_blocks) values, w (N, 6), r (N,)."""

    d: np.ndarray
    e: np.ndarray
    w: np.ndarray
    r: np.ndarray

    def __post_init__(self) -> None:
        self.d = np.asarray(self.d, dtype=np.int64)
        self.e = np.asarray(self.e, dtype=np.float64)
        self.w = np.asarray(self.w, dtype=np.int64)
        self.r = np.asarray(self.r, dtype=np.int64).reshape(-1)
        n = len(self.r)
        if self.d.ndim != 2 or self.e.ndim != 2 or self.w.ndim != 2 or not (
                self.d.shape[0] == self.e.shape[0] == self.w.shape[0] == n):
            raise SpaceError("ResNetBatch arrays must be 2-d (r 1-d) with the same number of rows")

    def __len__(self) -> int:
        return len(self.r)

    @classmethod
    def from_archs(cls, archs: Sequence[ResNetArch]) -> ResNetBatch:
        if not archs:
            raise SpaceError("no archs given")
        return cls(np.array([a.d for a in archs]), np.array([a.e for a in archs]),
                   np.array([a.w for a in archs]), np.array([a.r for a in archs]))

    def to_archs(self) -> list[ResNetArch]:
        return [ResNetArch(tuple(d.tolist()), tuple(e.tolist()), tuple(w.tolist()), int(r))
                for d, e, w, r in zip(self.d, self.e, self.w, self.r)]

    def __getitem__(self, idx) -> ResNetBatch:
        idx = np.atleast_1d(np.arange(len(self))[idx])
        return ResNetBatch(self.d[idx], self.e[idx], self.w[idx], self.r[idx])

    def active_mask(self, spec: ResNet50Spec) -> np.ndarray:
        """(N, n_blocks) bool: which block slots run in each subnet."""
        slot_stage = np.asarray(spec.slot_stage)
        depth = np.asarray(BASE_DEPTH_LIST)[slot_stage][None, :] + self.d[:, 1 + slot_stage]
        return np.asarray(spec.slot_index)[None, :] < depth

    def e_index(self, spec: ResNet50Spec) -> np.ndarray:
        """Index of each expand ratio in the space's list; -1 where it is not a choice."""
        choices = np.asarray(spec.expand_list)  # sorted: one binary search per value, then one check
        idx = np.minimum(np.searchsorted(choices, self.e - _E_TOL), len(choices) - 1)
        return np.where(np.abs(choices[idx] - self.e) <= _E_TOL, idx, -1)

    def check(self, spec: ResNet50Spec) -> tuple[np.ndarray, np.ndarray]:
        """Validate every row (vectorised); return (active mask, expand indices)."""
        if self.d.shape[1] != spec.n_stages + 1 or self.e.shape[1] != spec.n_blocks or \
                self.w.shape[1] != spec.n_widths:
            raise SpaceError(f"ResNet50 archs need d of {spec.n_stages + 1}, e of {spec.n_blocks} and w of "
                             f"{spec.n_widths} values, got {self.d.shape[1]}, {self.e.shape[1]}, {self.w.shape[1]}")
        if not np.isin(self.d[:, 0], [spec.depth_list[0], spec.max_depth]).all() or \
                not np.isin(self.d[:, 1:], spec.depth_list).all():
            raise SpaceError(f"an arch has a depth outside the space's depths {list(spec.depth_list)}")
        if ((self.w < 0) | (self.w >= len(spec.width_mult_list))).any():
            raise SpaceError(f"an arch has a width index outside 0..{len(spec.width_mult_list) - 1}")
        mask, eidx = self.active_mask(spec), self.e_index(spec)
        if ((eidx < 0) & mask).any():
            raise SpaceError(f"an arch uses an expand ratio outside the space's {list(spec.expand_list)}")
        return mask, eidx


def sample_resnet_archs(spec: ResNet50Spec, n: int, rng: np.random.Generator,
                        resolutions: Sequence[int] | None = None) -> ResNetBatch:
    """`n` archs drawn as upstream's `sample_active_subnet` draws them (each choice independent)."""
    rs = np.asarray(resolutions if resolutions is not None else spec.resolutions)
    stem = rng.choice(np.asarray(sorted({spec.depth_list[0], spec.max_depth})), size=(n, 1))
    d = np.concatenate([stem, rng.choice(np.asarray(spec.depth_list), size=(n, spec.n_stages))], axis=1)
    return ResNetBatch(d, rng.choice(np.asarray(spec.expand_list), size=(n, spec.n_blocks)),
                       rng.integers(0, len(spec.width_mult_list), size=(n, spec.n_widths)), rng.choice(rs, size=n))


class ResNet50CostModel:
    """Exact params and MACs (official `ResNet50LatencyTable.count_flops_given_config` convention:
    conv and linear MACs only) as table gathers: one (slot, in-width, out-width, expand) table."""

    def __init__(self, spec: ResNet50Spec):
        self.spec = spec
        nw, ne, nb = len(spec.width_mult_list), len(spec.expand_list), spec.n_blocks
        self._shape = (nb, nw, nw, ne)  # slot, input width index, output width index, expand index
        p = np.zeros(self._shape, np.int64)
        self._in_area = np.zeros(self._shape, np.int64)  # MACs at the block's input side (conv1)
        self._out_area = np.zeros(self._shape, np.int64)  # at its output side (conv2, conv3, downsample)
        for i in range(nb):
            s, j = spec.slot_stage[i], spec.slot_index[i]
            cins = spec.stem_widths if s == 0 else spec.stage_widths[s - 1]
            for a in range(nw):
                cin = cins[a] if j == 0 else None
                for b, cout in enumerate(spec.stage_widths[s]):
                    c_in = cout if cin is None else cin
                    ds = not (j > 0 or (STAGE_STRIDES[s] == 1 and c_in == cout))
                    for k, e in enumerate(spec.expand_list):
                        mid = middle_channels(cout, e)
                        p[i, a, b, k] = (c_in * mid + 2 * mid + 9 * mid * mid + 2 * mid + mid * cout + 2 * cout
                                         + (c_in * cout + 2 * cout if ds else 0))
                        self._in_area[i, a, b, k] = c_in * mid
                        self._out_area[i, a, b, k] = 9 * mid * mid + mid * cout + (c_in * cout if ds else 0)
        self._block_params = np.append(p.reshape(-1), 0)
        mids, outs = np.asarray(spec.stem_mid_widths), np.asarray(spec.stem_widths)
        cin = spec.in_channels
        self._stem0 = 9 * cin * mids  # MACs per output pixel, by w[0]
        self._stem1 = 9 * mids * mids
        self._stem2 = 9 * mids[:, None] * outs[None, :]  # by (w[0], w[1])
        self._stem0_p, self._stem1_p = self._stem0 + 2 * mids, self._stem1 + 2 * mids
        self._stem2_p = self._stem2 + 2 * outs[None, :]
        last = np.asarray(spec.stage_widths[-1])
        self._head = last * spec.n_classes  # by w[5]
        self._head_p = self._head + spec.n_classes
        self._slot_stage = np.asarray(spec.slot_stage)
        first = np.asarray(spec.slot_index) == 0
        # Which width gene gives each slot's input width: the stem's (w[1]) or the previous stage's.
        self._in_gene = np.where(first, 1 + self._slot_stage, 2 + self._slot_stage)
        self._out_gene = 2 + self._slot_stage
        self._macs_cache: dict[int, np.ndarray] = {}

    def block_index(self, batch: ResNetBatch) -> tuple[np.ndarray, np.ndarray]:
        """Validate the batch; return (N, n_blocks) indices into the flattened (slot, input width,
        output width, expand) tables (inactive slots: the trailing zero) and the stem-skip flags."""
        return self._flat_index(batch)

    def _flat_index(self, batch: ResNetBatch) -> tuple[np.ndarray, np.ndarray]:
        mask, eidx = batch.check(self.spec)
        _, nw, _, ne = self._shape
        win, wout = batch.w[:, self._in_gene], batch.w[:, self._out_gene]
        flat = ((np.arange(self.spec.n_blocks) * nw)[None, :] + win) * nw + wout
        flat = flat * ne + eidx
        return np.where(mask, flat, len(self._block_params) - 1), batch.d[:, 0] != self.spec.max_depth

    def _sides(self, r: int) -> tuple[int, np.ndarray, np.ndarray]:
        spec = self.spec
        stem = (r - 1) // 2 + 1
        side = (stem - 1) // 2 + 1
        ins, outs = np.zeros(spec.n_blocks, np.int64), np.zeros(spec.n_blocks, np.int64)
        for i in range(spec.n_blocks):
            ins[i] = side
            if spec.slot_index[i] == 0:
                side = (side - 1) // STAGE_STRIDES[spec.slot_stage[i]] + 1
            outs[i] = side
        return stem, ins, outs

    def _macs_table(self, r: int) -> np.ndarray:
        if r not in self._macs_cache:
            _, ins, outs = self._sides(r)
            t = (self._in_area * (ins ** 2)[:, None, None, None] + self._out_area * (outs ** 2)[:, None, None, None])
            self._macs_cache[r] = np.append(t.reshape(-1), 0)
        return self._macs_cache[r]

    def params(self, batch: ResNetBatch) -> np.ndarray:
        """(N,) exact parameter counts of the extracted subnets."""
        flat, skip = self._flat_index(batch)
        w0, w1, w5 = batch.w[:, 0], batch.w[:, 1], batch.w[:, -1]
        fixed = self._stem0_p[w0] + np.where(skip, 0, self._stem1_p[w0]) + self._stem2_p[w0, w1] + self._head_p[w5]
        return fixed + self._block_params[flat].sum(axis=1)

    def macs(self, batch: ResNetBatch) -> np.ndarray:
        """(N,) multiply-accumulates of conv and linear layers (MFLOPs = macs / 1e6 upstream)."""
        flat, skip = self._flat_index(batch)
        return self._macs(batch, flat, skip)

    def _macs(self, batch: ResNetBatch, flat: np.ndarray, skip: np.ndarray) -> np.ndarray:
        w0, w1, w5 = batch.w[:, 0], batch.w[:, 1], batch.w[:, -1]
        out = np.zeros(len(batch), np.int64)
        for r in np.unique(batch.r):
            rows = batch.r == r
            stem = (int(r) - 1) // 2 + 1
            per_px = (self._stem0[w0[rows]] + np.where(skip[rows], 0, self._stem1[w0[rows]])
                      + self._stem2[w0[rows], w1[rows]])
            out[rows] = (stem * stem * per_px + self._head[w5[rows]]
                         + self._macs_table(int(r))[flat[rows]].sum(axis=1))
        return out

    def params_and_macs(self, batch: ResNetBatch) -> tuple[np.ndarray, np.ndarray]:
        """Both at once, sharing the validation and index computation (the search loop's form)."""
        flat, skip = self._flat_index(batch)
        w0, w1, w5 = batch.w[:, 0], batch.w[:, 1], batch.w[:, -1]
        fixed = self._stem0_p[w0] + np.where(skip, 0, self._stem1_p[w0]) + self._stem2_p[w0, w1] + self._head_p[w5]
        return fixed + self._block_params[flat].sum(axis=1), self._macs(batch, flat, skip)


@lru_cache(maxsize=16)
def resnet_cost_model(spec: ResNet50Spec) -> ResNet50CostModel:
    return ResNet50CostModel(spec)


def resnet_arch_costs(spec: ResNet50Spec, arch: ResNetArch) -> tuple[int, int]:
    """(params, MACs) of one arch."""
    model = resnet_cost_model(spec)
    batch = ResNetBatch.from_archs([arch.validate(spec, check_resolution=False)])
    p, m = model.params_and_macs(batch)
    return int(p[0]), int(m[0])


# ---- checkpoints (shapes only: no torch) -----------------------------------------------------
def infer_resnet_spec_from_state(state: dict[str, Any]) -> ResNet50Spec:
    """The space of an official OFA ResNet50 checkpoint, from its tensor shapes: classes, input
    channels, the number of block slots (hence the depth list) and the stage widths at width 1.0
    (the official expand and width-multiplier lists are assumed; the strict load checks them)."""
    s = {k.removeprefix("module."): v for k, v in state.items()}

    def shape(dynamic: str) -> tuple[int, ...]:
        for k in (dynamic, dynamic.replace("conv.conv.weight", "conv.weight"), dynamic.replace(
                ".linear.linear.", ".linear.")):
            if k in s:
                return tuple(s[k].shape)
        raise KeyError(dynamic)

    try:
        n_classes, _ = shape("classifier.linear.linear.weight")
        stem0 = shape("input_stem.0.conv.conv.weight")
        n_blocks = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))
        extra, rem = divmod(n_blocks - sum(BASE_DEPTH_LIST), len(BASE_DEPTH_LIST))
        if rem or extra < 0:
            raise CheckpointError(f"checkpoint has {n_blocks} blocks; an OFA ResNet50 has "
                                  f"{sum(BASE_DEPTH_LIST)} + 4 * max depth")
        starts, i = [], 0
        for b in BASE_DEPTH_LIST:
            starts.append(i)
            i += b + extra
        widths = tuple(shape(f"blocks.{j}.conv3.conv.conv.weight")[0] for j in starts)
        stem_w = shape("input_stem.2.conv.conv.weight")[0]
    except (KeyError, ValueError, IndexError, AttributeError) as e:
        raise CheckpointError(f"checkpoint is not an OFA ResNet50 supernet (missing or malformed {e})") from None
    if stem_w != make_divisible(STEM_WIDTH):
        raise CheckpointError(f"checkpoint stem width {stem_w} is not OFA ResNet50's {STEM_WIDTH} at width 1.0")
    depth_list = tuple(d for d in (0, 1, 2) if d <= extra) if extra <= 2 else tuple(range(extra + 1))
    try:
        return ResNet50Spec(depth_list=depth_list, stage_base_widths=widths, n_classes=int(n_classes),
                            in_channels=int(stem0[1]))
    except SpaceError as e:
        raise CheckpointError(f"checkpoint shapes do not make an OFA ResNet50 space: {e}") from None



# ---- accuracy-predictor encoding -------------------------------------------------------------
class ResNetEncoder:
    """Upstream `ResNetArchEncoder.arch2feature`, vectorised: one-hots of the resolution, of the
    input-stem flag (index 1 when `d[0] > 0`, i.e. the residual conv runs, as upstream), of the 6
    width indices, and of the expand ratio of every active block slot (inactive slots all-zero)."""

    def __init__(self, spec: ResNet50Spec, image_size_list: Sequence[int] | None = None):
        self.spec = spec
        self.image_size_list = list(image_size_list) if image_size_list is not None else list(spec.resolutions)
        nr, nw, ne = len(self.image_size_list), len(spec.width_mult_list), len(spec.expand_list)
        self.r_offset, self.stem_offset = 0, nr
        self.w_offset = nr + 2
        self.e_offset = self.w_offset + spec.n_widths * nw
        self.n_dim = self.e_offset + spec.n_blocks * ne

    def encode(self, batch: ResNetBatch) -> np.ndarray:
        spec = self.spec
        mask, eidx = batch.check(spec)
        n = len(batch)
        lut = {r: i for i, r in enumerate(self.image_size_list)}
        missing = sorted(set(np.unique(batch.r).tolist()) - set(lut))
        if missing:
            raise SpaceError(f"resolution(s) {missing} are not in the encoder's image sizes {self.image_size_list}")
        ridx = (batch.r[:, None] == np.asarray(self.image_size_list)[None, :]).argmax(axis=1)
        feat = np.zeros((n, self.n_dim), dtype=np.float64)
        rows = np.arange(n)
        feat[rows, self.r_offset + ridx] = 1
        feat[rows, self.stem_offset + (batch.d[:, 0] > 0).astype(np.int64)] = 1
        nw, ne = len(spec.width_mult_list), len(spec.expand_list)
        wcols = self.w_offset + np.arange(spec.n_widths)[None, :] * nw + batch.w
        feat[rows[:, None], wcols] = 1
        ecols = self.e_offset + np.arange(spec.n_blocks)[None, :] * ne + np.maximum(eidx, 0)
        r_i, c_i = np.nonzero(mask)
        feat[r_i, ecols[r_i, c_i]] = 1
        return feat


# ---- the registered kind ---------------------------------------------------------------------
class ResNet50Kind:
    """The `ofa_resnet50` entry of the registry of kinds (`space.kinds`).

    The registry's MobileNet-family `SpaceKind` describes a stem conv, MBConv stages and 1x1 head
    convs as data; ResNet50 is not built from those parts, so it registers this object instead:
    the attributes the registry looks up (`name`, `title`, `net_name`, `module_names`,
    `tag_prefix`) plus the conversions the generic readers hand over to a kind that is not of the
    MobileNet family (`spec_from_dict`, `arch_from_dict`, net.config and arch dict in and out, the
    space of a checkpoint, costs, the supernet). Those readers test
    `isinstance(kind, SpaceKind)`, never the kind's name.
    """

    name = KIND
    title = "OFA-ResNet50"
    net_name = "ResNets"
    tag_prefix = "resnet50"
    module_names = frozenset({"input_stem", "blocks", "classifier"})
    arch_keys = frozenset({"d", "e", "w"})
    has_mmrazor = False  # MMRazor publishes no ResNet50 subnet files

    def __repr__(self) -> str:
        return f"ResNet50Kind({self.name!r})"

    def tag(self, spec: ResNet50Spec) -> str:
        """Short folder name of a space (latency tables), e.g. `resnet50_c1000` or
        `resnet50_s16-32-48-64_c10` (defaults omitted)."""
        ref = ResNet50Spec()
        parts = [self.tag_prefix]
        if spec.stage_base_widths != ref.stage_base_widths:
            parts.append("s" + "-".join(map(str, spec.stage_base_widths)))
        parts.append(f"c{spec.n_classes}")
        if spec.in_channels != 3:
            parts.append(f"in{spec.in_channels}")
        for name, short in (("depth_list", "d"), ("expand_list", "e"), ("width_mult_list", "w")):
            if getattr(spec, name) != getattr(ref, name):
                parts.append(short + "-".join(f"{v:g}" for v in getattr(spec, name)))
        return "_".join(parts)

    def sample_archs(self, spec: ResNet50Spec, n: int, rng: np.random.Generator,
                     resolutions: Sequence[int] | None = None) -> ResNetBatch:
        return sample_resnet_archs(spec, n, rng, resolutions)

    def largest_arch(self, spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
        return largest_resnet_arch(spec, r)

    def smallest_arch(self, spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
        return smallest_resnet_arch(spec, r)

    def middle_arch(self, spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
        return middle_resnet_arch(spec, r)

    def official_space(self, n_classes: int = 1000) -> ResNet50Spec:
        return official_resnet50_space(n_classes)

    def spec_from_dict(self, d: dict[str, Any]) -> ResNet50Spec:
        return ResNet50Spec.from_dict(d)

    def arch_from_dict(self, d: dict[str, Any]) -> ResNetArch:
        return ResNetArch.from_dict(d)

    def is_arch_dict(self, d: dict[str, Any]) -> bool:
        """An official ResNet50 arch dict: `d`, `e`, `w` (and no MobileNet `ks`)."""
        return self.arch_keys <= set(d) and "ks" not in d

    def to_official_arch(self, arch: ResNetArch) -> dict[str, Any]:
        return arch.to_official()

    def read_net_config(self, cfg: dict[str, Any], image_size: int | None = None,
                        spec: ResNet50Spec | None = None) -> tuple[ResNet50Spec, ResNetArch]:
        return from_net_config(cfg, spec, image_size)

    def write_net_config(self, spec: ResNet50Spec, arch: ResNetArch, dropout_rate: float = 0) -> dict[str, Any]:
        return to_net_config(spec, arch, dropout_rate)

    def infer_spec(self, state: dict[str, Any]) -> ResNet50Spec:
        return infer_resnet_spec_from_state(state)

    def arch_costs(self, spec: ResNet50Spec, arch: ResNetArch) -> tuple[int, int]:
        return resnet_arch_costs(spec, arch)

    def cost_model(self, spec: ResNet50Spec) -> ResNet50CostModel:
        return resnet_cost_model(spec)

    def summary_stages(self, spec: ResNet50Spec, arch: ResNetArch) -> list[dict[str, Any]]:
        """Per-stage rows for `subnet show` (width, depth, expands, stride, params, MACs)."""
        return resnet_stage_summary(spec, arch)

    def load_supernet(self, path: Any, spec: ResNet50Spec | None = None) -> Any:
        from ..nn.resnet50 import load_resnet_supernet  # torch: only when a supernet is built

        return load_resnet_supernet(path, spec)


RESNET50_KIND = ResNet50Kind()


def resnet_stage_summary(spec: ResNet50Spec, arch: ResNetArch) -> list[dict[str, Any]]:
    """Params and MACs of each stage's blocks (stem and classifier excluded), for reports."""
    arch = arch.validate(spec, check_resolution=False)
    sides = spec.resolution_sides(arch.r)
    rows = []
    side = sides["pool"]
    for s, depth in enumerate(arch.d[1:]):
        params = macs = 0
        expands = []
        for b in (b for b in arch.blocks(spec) if b["stage"] == s):
            out = (side - 1) // b["stride"] + 1
            cin, cout, mid = b["in_channels"], b["out_channels"], b["mid_channels"]
            params += cin * mid + 9 * mid * mid + mid * cout + 4 * mid + 2 * cout
            macs += cin * mid * side * side + (9 * mid * mid + mid * cout) * out * out
            if b["downsample"]:
                params += cin * cout + 2 * cout
                macs += cin * cout * out * out
            expands.append(b["expand_ratio"])
            side = out
        rows.append({"stage": s + 1, "width": spec.stage_widths[s][arch.w[2 + s]], "depth": spec.stage_depth(s, depth),
                     "kernels": [KERNEL_SIZE] * len(expands), "expands": expands, "stride": STAGE_STRIDES[s],
                     "se": False, "act": ACT, "params": params, "macs": macs})
    return rows


def register() -> None:
    """Add `ofa_resnet50` to the registry of kinds (idempotent; done when `ofa_deploy.space` loads)."""
    from .kinds import get_kind, register_kind

    try:
        get_kind(KIND)
    except SpaceError:
        register_kind(RESNET50_KIND)  # type: ignore[arg-type]  (a kind of its own family, see the class)


__all__ = [
    "BASE_DEPTH_LIST",
    "KIND",
    "RESNET50_KIND",
    "STAGE_WIDTH_LIST",
    "ResNet50CostModel",
    "ResNet50Kind",
    "ResNet50Spec",
    "ResNetArch",
    "ResNetBatch",
    "ResNetEncoder",
    "from_net_config",
    "infer_resnet_spec_from_state",
    "largest_resnet_arch",
    "middle_resnet_arch",
    "official_resnet50_space",
    "resnet_arch_costs",
    "resnet_cost_model",
    "resnet_stage_summary",
    "sample_resnet_archs",
    "smallest_resnet_arch",
    "to_net_config",
]
