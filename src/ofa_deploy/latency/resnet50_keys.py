"""Latency-table keys for the OFA ResNet50 space: a scheme of our own, since upstream has none.

Upstream's `ResNet50LatencyTable` raises `NotImplementedError` for every query (only its FLOPs
counter works), so there is no official key format to keep. This scheme follows the official
MobileNet one (`<type>-input:HxWxC-output:HxWxC-<fields>`) so the table files, their CSV and the
profiler stay the same; one key per module of an extracted `ResNets` subnet, in module order
(`ResNets.layer_sequence()`), so key `i` times module `i` and the block sum times what runs:

  stem_conv-input:{r}x{r}x{cin}-output:{s}x{s}x{c}-kernel:3-stride:2        input stem conv 1
  stem_residual-input:{s}x{s}x{c}-output:{s}x{s}x{c}-kernel:3-stride:1      input stem conv 2 + identity
                                                                           (absent when d[0] skips it)
  stem_conv-input:{s}x{s}x{c}-output:{s}x{s}x{c2}-kernel:3-stride:1         input stem conv 3
  MaxPool2D-input:{s}x{s}x{c2}-output:{p}x{p}x{c2}                          3x3 / 2 max pooling
  bottleneck-input:{h}x{h}x{cin}-output:{o}x{o}x{cout}-expand:{mid}-kernel:3-stride:{1|2}-downsample:{0|1}
                                                                           one per active block; `expand` is the
                                                                           middle width (as MobileNetV3 tables)
  AvgPool2D-input:{h}x{h}x{c}-output:1x1x{c}                                global average pooling
  Logits-input:1x1x{c}-output:{n_classes}                                   classifier

Every field is a shape, so two slots computing the same thing share a key (a stage's blocks after
its first have one key per (width, expand)). Prediction is the sum over a subnet's keys; like the
cost model it is a table gather: per resolution, one value per (slot, input width, output width,
expand) plus the stem, pooling and classifier by their width genes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..space.resnet50 import ResNet50Spec, ResNetArch, ResNetBatch


def _hw(side: int, c: int) -> str:
    return f"{side}x{side}x{c}"


def conv_key(kind: str, side: int, cin: int, out_side: int, cout: int, stride: int) -> str:
    return f"{kind}-input:{_hw(side, cin)}-output:{_hw(out_side, cout)}-kernel:3-stride:{stride}"


def bottleneck_key(side: int, cin: int, out_side: int, cout: int, mid: int, stride: int, downsample: bool) -> str:
    return (f"bottleneck-input:{_hw(side, cin)}-output:{_hw(out_side, cout)}-expand:{mid}-kernel:3"
            f"-stride:{stride}-downsample:{int(bool(downsample))}")


def pool_key(kind: str, side: int, c: int, out_side: int) -> str:
    return f"{kind}-input:{_hw(side, c)}-output:{_hw(out_side, c)}"


def logits_key(c: int, n_classes: int) -> str:
    return f"Logits-input:1x1x{c}-output:{n_classes}"


def resnet_arch_keys(spec: ResNet50Spec, arch: ResNetArch) -> list[str]:
    """The keys of one subnet, in module order (repeats kept: one per layer)."""
    arch = arch.validate(spec, check_resolution=False)
    sides = spec.resolution_sides(arch.r)
    s, p = sides["stem"], sides["pool"]
    mid, c2 = arch.stem(spec)
    keys = [conv_key("stem_conv", arch.r, spec.in_channels, s, mid, 2)]
    if not arch.skip_stem(spec):
        keys.append(conv_key("stem_residual", s, mid, s, mid, 1))
    keys += [conv_key("stem_conv", s, mid, s, c2, 1), pool_key("MaxPool2D", s, c2, p)]
    side = p
    for b in arch.blocks(spec):
        out = (side - 1) // b["stride"] + 1
        keys.append(bottleneck_key(side, b["in_channels"], out, b["out_channels"], b["mid_channels"], b["stride"],
                                   b["downsample"]))
        side = out
    last = arch.last_width(spec)
    keys += [pool_key("AvgPool2D", side, last, 1), logits_key(last, spec.n_classes)]
    return keys


def covering_resnet_archs(spec: ResNet50Spec, r: int) -> list[ResNetArch]:
    """Archs that together hold every key of the space at resolution `r`: full depth, stem kept,
    one expand ratio everywhere, and widths alternating `[b, a, b, a, b, a]` over all ordered
    pairs (a, b), so every (input width, output width) pair of every stage's first block, and of
    the stem's convs, appears (len(width_mult_list)^2 * len(expand_list) archs)."""
    n = len(spec.width_mult_list)
    out = []
    for e in spec.expand_list:
        for a in range(n):
            for b in range(n):
                out.append(ResNetArch((spec.max_depth,) * (spec.n_stages + 1), (e,) * spec.n_blocks,
                                      (b, a, b, a, b, a), r))
    return out


def resnet_space_keys(spec: ResNet50Spec, r: int) -> list[str]:
    """All distinct keys a subnet of `spec` at resolution `r` may query (module order, no repeats)."""
    seen: dict[str, None] = {}
    for arch in covering_resnet_archs(spec, r):
        for k in resnet_arch_keys(spec, arch):
            seen.setdefault(k, None)
    return list(seen)


class ResNetLatencyModel:
    """Vectorised block sums: `predict(batch)` = sum of `lookup(key, r)` over each subnet's keys,
    as gathers from per-resolution arrays (the layout of `ResNet50CostModel`)."""

    def __init__(self, spec: ResNet50Spec, lookup: Callable[[str, int], float], resolutions: list[int]):
        self.spec = spec
        self._tables = {int(r): self._build(lookup, int(r)) for r in resolutions}

    def _build(self, lookup: Callable[[str, int], float], r: int) -> dict[str, np.ndarray]:
        spec = self.spec
        nw, ne, nb = len(spec.width_mult_list), len(spec.expand_list), spec.n_blocks
        sides = spec.resolution_sides(r)
        s, p = sides["stem"], sides["pool"]
        stem0 = np.array([lookup(conv_key("stem_conv", r, spec.in_channels, s, m, 2), r)
                          for m in spec.stem_mid_widths])
        stem1 = np.array([lookup(conv_key("stem_residual", s, m, s, m, 1), r) for m in spec.stem_mid_widths])
        stem2 = np.array([[lookup(conv_key("stem_conv", s, m, s, c, 1), r) + lookup(pool_key("MaxPool2D", s, c, p), r)
                           for c in spec.stem_widths] for m in spec.stem_mid_widths])
        blocks = np.zeros((nb, nw, nw, ne))
        side_in = p
        for i in range(nb):
            st, j = spec.slot_stage[i], spec.slot_index[i]
            stride = spec.stage_strides[st] if j == 0 else 1
            out_side = (side_in - 1) // stride + 1
            cins = (spec.stem_widths if st == 0 else spec.stage_widths[st - 1]) if j == 0 else None
            for a in range(nw):
                for b, cout in enumerate(spec.stage_widths[st]):
                    cin = cout if cins is None else cins[a]
                    ds = not (stride == 1 and cin == cout)
                    for k, e in enumerate(spec.expand_list):
                        mid = _mid(cout, e)
                        blocks[i, a, b, k] = lookup(bottleneck_key(side_in if j == 0 else out_side, cin, out_side,
                                                                   cout, mid, stride, ds), r)
            if j == 0:
                side_in = out_side
        last = sides[f"stage{spec.n_stages - 1}"]
        head = np.array([lookup(pool_key("AvgPool2D", last, c, 1), r) + lookup(logits_key(c, spec.n_classes), r)
                         for c in spec.stage_widths[-1]])
        return {"stem0": stem0, "stem1": stem1, "stem2": stem2, "blocks": np.append(blocks.reshape(-1), 0.0),
                "head": head}

    def predict(self, batch: ResNetBatch) -> np.ndarray:
        from ..space.resnet50 import resnet_cost_model

        flat, skip = resnet_cost_model(self.spec).block_index(batch)
        out = np.zeros(len(batch))
        w0, w1, w5 = batch.w[:, 0], batch.w[:, 1], batch.w[:, -1]
        for r in np.unique(batch.r):
            if int(r) not in self._tables:
                raise KeyError(int(r))
            t = self._tables[int(r)]
            rows = batch.r == r
            out[rows] = (t["stem0"][w0[rows]] + np.where(skip[rows], 0.0, t["stem1"][w0[rows]])
                         + t["stem2"][w0[rows], w1[rows]] + t["head"][w5[rows]] + t["blocks"][flat[rows]].sum(axis=1))
        return out


def _mid(cout: int, e: float) -> int:
    from ..space.spec import middle_channels

    return middle_channels(cout, e)


class ResNet50Dense:
    """Block sums of a ResNet50 table: `ResNetLatencyModel` over the table's rows (NaN where a row
    is missing; the table names the first missing row or resolution)."""

    def __init__(self, table: Any):
        self.model = ResNetLatencyModel(table.spec, table.value_or_nan, list(table.resolutions))

    def block_sum(self, table: Any, batch: ResNetBatch) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros(0)
        bad = sorted(set(batch.r.tolist()) - set(table.resolutions))
        if bad:
            raise table.no_resolution_error(bad)
        total = self.model.predict(batch)
        if np.isnan(total).any():
            raise table.missing_row_error(batch[int(np.nonzero(np.isnan(total))[0][0])].to_archs()[0])
        return total


class ResolutionKeyList:
    """Every key of a ResNet50 space at one resolution (`distinct()`, as `blocks.ResolutionKeys`)."""

    def __init__(self, resolution: int, keys: list[str]):
        self.resolution, self.keys = resolution, tuple(keys)

    def distinct(self) -> list[str]:
        return list(self.keys)


class ResNet50Keys:
    """ResNet50's `KeyScheme` (`latency.blocks`): the keys above, `ResNet50Dense` for prediction."""

    def resolution_keys(self, spec: ResNet50Spec, r: int) -> ResolutionKeyList:
        return ResolutionKeyList(int(r), resnet_space_keys(spec, int(r)))

    def arch_keys(self, spec: ResNet50Spec, arch: ResNetArch) -> list[str]:
        return resnet_arch_keys(spec, arch)

    def covering_archs(self, spec: ResNet50Spec, r: int) -> list[ResNetArch]:
        return covering_resnet_archs(spec, r)

    def dense(self, table: Any) -> ResNet50Dense:
        return ResNet50Dense(table)


RESNET50_KEYS = ResNet50Keys()


__all__ = [
    "RESNET50_KEYS",
    "ResNet50Dense",
    "ResNet50Keys",
    "ResNetLatencyModel",
    "covering_resnet_archs",
    "resnet_arch_keys",
    "resnet_space_keys",
]
