"""The blocks of an OFA space, named with the official latency-table key strings.

OFA (Cai et al., ICLR 2020) predicts a subnet's latency as the sum of per-layer entries of a lookup
table whose keys describe a layer by its shapes, e.g.
`expanded_conv-input:28x28x48-output:14x14x96-expand:288-kernel:5-stride:2-idskip:0-se:0-hs:1`.
Keeping the official strings lets us read the released tables (Note10, ...) and write ours in the
same form. Every shape is read from `SpaceSpec` / `Arch.blocks`, never recomputed here.

A subnet's keys, in order, are: `Conv` (first conv), the fixed first block, each active elastic
block, then the head: MobileNetV3 `Conv_1` (final expand), `AvgPool2D`, `Conv_2` (feature mix),
`Logits`; ProxylessNAS (`ProxylessNASLatencyTable`) `Conv_1` (feature mix) and `Logits` (pooling
and classifier), with `expand` the expand ratio and no `se`/`hs` fields. The same order as the
modules of an extracted subnet (`StaticSubnet.layer_sequence`), so key `i` names module `i`. The
kind (`space.kinds`) declares the head layout and the block key format.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..space import OFA_MBV3, Arch, SpaceKind, SpaceSpec, conv_out_size, middle_channels

FIXED_HEAD = ("Conv", "first_block")
FIXED_TAIL = ("Conv_1", "AvgPool2D", "Conv_2", "Logits")


def _shape(*dims: int) -> str:
    return "x".join(str(int(d)) for d in dims)


def layer_key(kind: str, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> str:
    """Key of a non-block layer (`Conv`, `Conv_1`, `AvgPool2D`, `Conv_2`, `Logits`)."""
    return f"{kind}-input:{_shape(*input_shape)}-output:{_shape(*output_shape)}"


def block_key(side: int, cin: int, out_side: int, cout: int, mid: int, kernel: int, stride: int,
              shortcut: bool, se: bool, act: str, expand: int | None = None, spec: SpaceSpec | None = None) -> str:
    """Key of an inverted-bottleneck block (`expanded_conv`), as the official predictor of the
    space's kind writes it (default: MobileNetV3's, whose `expand` is the middle width)."""
    kind = spec.kind_info if spec is not None else OFA_MBV3
    return kind.block_key(int(side), int(cin), int(out_side), int(cout), int(mid),
                          int(expand) if expand is not None else 0, int(kernel), int(stride), shortcut, se, act)


@dataclass(frozen=True)
class SlotKeys:
    """The keys a block slot can take at one resolution: `keys[k_idx][e_idx]` (choice-list order)."""

    slot: int
    stage: int
    index_in_stage: int
    keys: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ResolutionKeys:
    """Every table key of a space at one resolution, organised the way the predictor gathers them."""

    resolution: int
    fixed: tuple[str, ...]  # Conv, first block, then the head's (MobileNetV3: Conv_1, AvgPool2D, Conv_2, Logits)
    slots: tuple[SlotKeys, ...]

    def distinct(self) -> list[str]:
        """All distinct keys, fixed layers first then blocks in slot order (no repeats)."""
        seen: dict[str, None] = {}
        for k in self.fixed[:2]:
            seen.setdefault(k, None)
        for s in self.slots:
            for row in s.keys:
                for k in row:
                    seen.setdefault(k, None)
        for k in self.fixed[2:]:
            seen.setdefault(k, None)
        return list(seen)


def _fixed_keys(spec: SpaceSpec, r: int) -> tuple[str, ...]:
    kind = spec.kind_info
    side = conv_out_size(r, 2)
    c0, c1 = spec.first_conv_width, spec.first_block_width
    first_mid = middle_channels(c0, 1)
    last = spec.resolution_sides(r)[f"stage{spec.n_stages - 1}"]
    keys = [
        layer_key("Conv", (r, r, spec.in_channels), (side, side, c0)),
        block_key(side, c0, side, c1, first_mid, 3, 1, spec.first_block_shortcut, False, kind.first_block_act, 1, spec),
    ]
    c, pooled = spec.stage_widths[-1], False
    for h, cin, cout in spec.head_layers():
        if h.after_pool and not pooled:
            keys.append(layer_key("AvgPool2D", (last, last, c), (1, 1, c)))
            pooled = True
        s = 1 if pooled else last
        keys.append(layer_key(h.table_name, (s, s, cin), (s, s, cout)))
        c = cout
    if kind.pool_key and not pooled:
        keys.append(layer_key("AvgPool2D", (last, last, c), (1, 1, c)))
        pooled = True
    s = 1 if pooled else last
    keys.append(layer_key("Logits", (s, s, spec.last_channel), (spec.n_classes,)))
    return tuple(keys)


@dataclass(frozen=True)
class OwnSchemeKeys:
    """The keys of a kind of its own family (ResNet50) at one resolution: only `distinct()` is
    shared with `ResolutionKeys`; its table prediction has its own dense model (`own_scheme`)."""

    resolution: int
    keys: tuple[str, ...]

    def distinct(self) -> list[str]:
        return list(self.keys)


def own_scheme(spec):
    """The key scheme module of a kind of its own family (`latency.resnet50_keys` for ResNet50:
    `resnet_space_keys`, `resnet_arch_keys`, `covering_resnet_archs`, `iter_resnet_layers`,
    `ResNetLatencyModel`), or None for the MobileNet family, whose keys are built here."""
    if isinstance(spec.kind_info, SpaceKind):
        return None
    from . import resnet50_keys

    return resnet50_keys


def resolution_keys(spec: SpaceSpec, r: int) -> ResolutionKeys:
    """All keys a subnet of `spec` at resolution `r` may query."""
    scheme = own_scheme(spec)
    if scheme is not None:
        return OwnSchemeKeys(int(r), tuple(scheme.resnet_space_keys(spec, int(r))))  # type: ignore[return-value]
    sides = spec.resolution_sides(r)
    slots = []
    for i, s, j in spec.slots():
        stride = spec.block_stride(s, j)
        in_side = (sides[f"stage{s - 1}"] if s else sides["stem"]) if j == 0 else sides[f"stage{s}"]
        out_side = conv_out_size(in_side, stride)
        cin, cout = spec.block_in_width(s, j), spec.stage_widths[s]
        keys = tuple(
            tuple(
                block_key(in_side, cin, out_side, cout, middle_channels(cin, e), k, stride,
                          spec.has_shortcut(s, j), spec.stage_se[s], spec.stage_acts[s], e, spec)
                for e in spec.expand_list
            )
            for k in spec.ks_list
        )
        slots.append(SlotKeys(i, s, j, keys))
    return ResolutionKeys(r, _fixed_keys(spec, r), tuple(slots))


def space_keys(spec: SpaceSpec, resolutions: tuple[int, ...] | list[int] | None = None) -> dict[int, list[str]]:
    """Distinct keys of the space at each resolution (default: the space's resolutions)."""
    rs = spec.resolutions if resolutions is None else resolutions
    return {int(r): resolution_keys(spec, int(r)).distinct() for r in rs}


def arch_keys(spec: SpaceSpec, arch: Arch) -> list[str]:
    """The keys of one subnet, in module order (repeats kept: one per layer)."""
    scheme = own_scheme(spec)
    if scheme is not None:
        return scheme.resnet_arch_keys(spec, arch)
    r = arch.r
    fixed = _fixed_keys(spec, r)
    sides = spec.resolution_sides(r)
    out = list(fixed[:2])
    side = sides["stem"]
    for b in arch.blocks(spec):
        out_side = conv_out_size(side, b["stride"])
        out.append(block_key(side, b["in_channels"], out_side, b["out_channels"], b["mid_channels"],
                             b["kernel_size"], b["stride"], b["shortcut"], b["se"], b["act"], b["expand_ratio"], spec))
        side = out_side
    out.extend(fixed[2:])
    return out
