"""Many OFA ResNet50 archs as arrays (`ResNetBatch`), their sampling, and exact params and MACs
in closed form, vectorised (official `ResNet50LatencyTable.count_flops_given_config` convention:
MACs of conv and linear layers only; params: the extracted subnet's, BN affine included)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...errors import SpaceError
from ..encoding import ArrayBatch
from ..spec import middle_channels
from .spec import (
    ACT,
    BASE_DEPTH_LIST,
    EXPAND_TOL,
    KERNEL_SIZE,
    STAGE_STRIDES,
    ResNet50Spec,
    ResNetArch,
)


@dataclass
class ResNetBatch(ArrayBatch):
    """Many archs as arrays: d (N, 5), e (N, n_blocks) values, w (N, 6), r (N,)."""

    fields = ("d", "e", "w")
    arch = ResNetArch

    d: np.ndarray
    e: np.ndarray
    w: np.ndarray
    r: np.ndarray

    def __post_init__(self) -> None:
        n = self.as_arrays(d=np.int64, e=np.float64, w=np.int64)
        if self.d.ndim != 2 or self.e.ndim != 2 or self.w.ndim != 2 or not (
                self.d.shape[0] == self.e.shape[0] == self.w.shape[0] == n):
            raise SpaceError("ResNetBatch arrays must be 2-d (r 1-d) with the same number of rows")

    def active_mask(self, spec: ResNet50Spec) -> np.ndarray:
        """(N, n_blocks) bool: which block slots run in each subnet."""
        slot_stage = np.asarray(spec.slot_stage)
        depth = np.asarray(BASE_DEPTH_LIST)[slot_stage][None, :] + self.d[:, 1 + slot_stage]
        return np.asarray(spec.slot_index)[None, :] < depth

    def e_index(self, spec: ResNet50Spec) -> np.ndarray:
        """Index of each expand ratio in the space's list; -1 where it is not a choice."""
        choices = np.asarray(spec.expand_list)  # sorted: one binary search per value, then one check
        idx = np.minimum(np.searchsorted(choices, self.e - EXPAND_TOL), len(choices) - 1)
        return np.where(np.abs(choices[idx] - self.e) <= EXPAND_TOL, idx, -1)

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
