"""The MobileNet family's latency-table keys: its blocks, named with the official key strings
(its `KeyScheme`, `MOBILENET_KEYS`, registered in `latency.blocks.SCHEMES`).

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
kind (`space.mobilenet.kinds`) declares the head layout and the block key format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpaceError
from ..space import OFA_MBV3, Arch, ArchBatch, SpaceSpec, conv_out_size, middle_channels

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


def mobilenet_resolution_keys(spec: SpaceSpec, r: int) -> ResolutionKeys:
    """All keys a subnet of a MobileNet-family space at resolution `r` may query."""
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


def mobilenet_arch_keys(spec: SpaceSpec, arch: Arch) -> list[str]:
    """The keys of one subnet of a MobileNet-family space, in module order."""
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

# ---- the MobileNet family's scheme ------------------------------------------------------------
@dataclass
class MobileNetDense:
    """Block sums of a MobileNet-family table: one dense array per (resolution, slot, kernel, expand)."""

    rmap: np.ndarray     # resolution -> row index, -1 where absent
    block: np.ndarray    # (R * n_blocks * nk * ne,) ms, NaN where missing
    fixed: np.ndarray    # (R,) ms, NaN where a fixed layer is missing
    nb: int
    nk: int
    ne: int

    @classmethod
    def build(cls, table: Any) -> MobileNetDense:
        spec = table.spec
        rs = table.resolutions
        nb, nk, ne = spec.n_blocks, len(spec.ks_list), len(spec.expand_list)
        rmap = np.full(max(rs, default=0) + 1, -1, dtype=np.int64)
        block = np.full((len(rs), nb, nk, ne), np.nan)
        fixed = np.zeros(len(rs))
        for ri, r in enumerate(rs):
            rmap[r] = ri
            rk = mobilenet_resolution_keys(spec, r)
            for k in rk.fixed:
                fixed[ri] += table.value_or_nan(k, r)
            for slot in rk.slots:
                for a, keys in enumerate(slot.keys):
                    for b, key in enumerate(keys):
                        block[ri, slot.slot, a, b] = table.value_or_nan(key, r)
        return cls(rmap, block.reshape(-1), fixed, nb, nk, ne)

    def block_sum(self, table: Any, batch: ArchBatch) -> np.ndarray:
        spec = table.spec
        if batch.ks.ndim != 2 or batch.ks.shape[1] != self.nb or batch.e.shape != batch.ks.shape:
            raise SpaceError(f"arch batch has ks/e of shape {batch.ks.shape}; this space needs (N, {self.nb})")
        if batch.d.ndim != 2 or batch.d.shape[1] != spec.n_stages:
            raise SpaceError(f"arch batch has d of shape {batch.d.shape}; this space needs (N, {spec.n_stages})")
        if len(batch) == 0:
            return np.zeros(0)
        r = batch.r
        inside = (r >= 0) & (r < len(self.rmap))
        ri = np.where(inside, self.rmap[np.clip(r, 0, len(self.rmap) - 1)], -1)
        if (ri < 0).any():
            raise table.no_resolution_error(sorted(set(r[ri < 0].tolist())))
        mask = batch.active_mask(spec)
        kidx, eidx = batch.choice_indices(spec)
        if ((kidx < 0) & mask).any() or ((eidx < 0) & mask).any():
            n = int(np.nonzero((((kidx < 0) | (eidx < 0)) & mask).any(axis=1))[0][0])
            raise SpaceError(f"arch {n} of the batch has a kernel size or expand ratio outside the space "
                             f"(ks {spec.ks_list}, e {spec.expand_list})")
        if not spec.depths_valid(batch.d).all():
            raise SpaceError(f"arch batch has depths outside the space's depths {list(spec.depth_list)}")
        flat = ((ri[:, None] * self.nb + np.arange(self.nb)) * self.nk + np.maximum(kidx, 0)) * self.ne \
            + np.maximum(eidx, 0)
        vals = self.block[flat]
        total = self.fixed[ri] + np.where(mask, vals, 0.0).sum(axis=1)
        if np.isnan(total).any():
            raise table.missing_row_error(batch[int(np.nonzero(np.isnan(total))[0][0])].to_archs()[0])
        return total


def covering_mobilenet_archs(spec: SpaceSpec, r: int) -> list[Arch]:
    """Archs that together contain every block of the space at resolution `r`: all slots at the
    same (kernel, expand) choice, every stage at full depth (len(ks_list) * len(expand_list) archs)."""
    nb, full = spec.n_blocks, tuple(c[-1] for c in spec.stage_depth_choices)
    return [Arch((k,) * nb, (e,) * nb, full, r) for k in spec.ks_list for e in spec.expand_list]


class MobileNetKeys:
    """The MobileNet family's `KeyScheme`: the official `MBv3LatencyTable` / `ProxylessNASLatencyTable` keys."""

    def resolution_keys(self, spec: SpaceSpec, r: int) -> ResolutionKeys:
        return mobilenet_resolution_keys(spec, r)

    def arch_keys(self, spec: SpaceSpec, arch: Arch) -> list[str]:
        return mobilenet_arch_keys(spec, arch)

    def covering_archs(self, spec: SpaceSpec, r: int) -> list[Arch]:
        return covering_mobilenet_archs(spec, r)

    def dense(self, table: Any) -> MobileNetDense:
        return MobileNetDense.build(table)


MOBILENET_KEYS = MobileNetKeys()
