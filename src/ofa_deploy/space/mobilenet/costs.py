"""Parameters and MACs of MobileNet-family subnets in closed form, vectorised over many archs.

Convention of the official OFA counters (`MBv3LatencyTable` / `ProxylessNASLatencyTable`
`.count_flops_given_config`): MACs of conv and linear layers only (no BN, activations, pooling or biases); parameters are the exact trainable
parameter count of the extracted subnet (BN affine and SE biases included).
"""

from __future__ import annotations

import numpy as np

from ...errors import SpaceError
from ..costs import cost_model
from ..spec import conv_out_size, middle_channels, se_channels
from .arch import Arch
from .batch import ArchBatch
from .spec import SpaceSpec


class CostModel:
    """Precomputed per-slot cost tables of a space; `params`/`macs` are table gathers + sums."""

    def __init__(self, spec: SpaceSpec):
        self.spec = spec
        nb, nk, ne = spec.n_blocks, len(spec.ks_list), len(spec.expand_list)
        self._block_params = np.zeros((nb, nk, ne), dtype=np.int64)
        # MACs split into a part at the block's input side and one at its output side: those
        # scale with the resolution; the SE part does not.
        self._in_area = np.zeros((nb, nk, ne), dtype=np.int64)
        self._out_area = np.zeros((nb, nk, ne), dtype=np.int64)
        self._flat = np.zeros((nb, nk, ne), dtype=np.int64)
        for i, s, j in spec.slots():
            cin, cout = spec.block_in_width(s, j), spec.stage_widths[s]
            for a, k in enumerate(spec.ks_list):
                for b, e in enumerate(spec.expand_list):
                    mid = middle_channels(cin, e)
                    p = cin * mid + 2 * mid + k * k * mid + 2 * mid + mid * cout + 2 * cout
                    flat = 0
                    if spec.stage_se[s]:
                        nm = se_channels(mid)
                        p += mid * nm + nm + nm * mid + mid
                        flat = 2 * mid * nm
                    self._block_params[i, a, b] = p
                    self._in_area[i, a, b] = cin * mid
                    self._out_area[i, a, b] = k * k * mid + mid * cout
                    self._flat[i, a, b] = flat
        c0, c1 = spec.first_conv_width, spec.first_block_width
        last, n = spec.last_channel, spec.n_classes
        head = spec.head_layers()
        self._fixed_params = (
            9 * spec.in_channels * c0 + 2 * c0  # first conv + BN
            + 9 * c0 + 2 * c0 + c0 * c1 + 2 * c1  # first block (depthwise 3x3, project)
            + sum(cin * cout + (2 * cout if h.use_bn else 0) for h, cin, cout in head)  # head 1x1 convs
            + last * n + n  # classifier
        )
        # Head MACs: convs before the pooling scale with the last map's area, those after do not.
        self._head_area_macs = sum(cin * cout for h, cin, cout in head if not h.after_pool)
        self._fixed_flat_macs = sum(cin * cout for h, cin, cout in head if h.after_pool) + last * n
        self._macs_cache: dict[int, tuple[int, np.ndarray]] = {}
        self._stage_starts = np.asarray(spec.stage_offsets)

    def _sides(self, r: int) -> tuple[int, np.ndarray, np.ndarray, int]:
        """Stem side, per-slot input side and output side, last side, at resolution r."""
        spec = self.spec
        stem = conv_out_size(r, 2)
        ins, outs = np.zeros(spec.n_blocks, np.int64), np.zeros(spec.n_blocks, np.int64)
        side = stem
        for i, s, j in spec.slots():
            ins[i] = side
            out = conv_out_size(side, spec.block_stride(s, j))
            outs[i] = out
            if j == 0:
                side = out
        return stem, ins, outs, side

    def _macs_table(self, r: int) -> tuple[int, np.ndarray]:
        """Fixed MACs and the flattened per-(slot, kernel, expand) MACs table at resolution r.
        Depth changes which slots run, never the sides (only a stage's first slot strides)."""
        if r in self._macs_cache:
            return self._macs_cache[r]
        spec = self.spec
        stem, ins, outs, last_side = self._sides(r)
        c0, c1 = spec.first_conv_width, spec.first_block_width
        fixed = (stem * stem * 9 * spec.in_channels * c0 + stem * stem * (9 * c0 + c0 * c1)
                 + last_side * last_side * self._head_area_macs + self._fixed_flat_macs)
        table = (self._in_area * (ins ** 2)[:, None, None] + self._out_area * (outs ** 2)[:, None, None]
                 + self._flat)
        self._macs_cache[r] = (int(fixed), table.reshape(-1))
        return self._macs_cache[r]

    def _flat_index(self, batch: ArchBatch) -> np.ndarray:
        """(N, n_blocks) index into flattened (slot, kernel, expand) tables; -1 for inactive slots."""
        spec = self.spec
        kidx, eidx = batch.choice_indices(spec)
        mask = batch.active_mask(spec)
        if np.any((kidx < 0) & mask) or np.any((eidx < 0) & mask):
            raise SpaceError("an arch uses a kernel size or expand ratio outside the space")
        nk, ne = len(spec.ks_list), len(spec.expand_list)
        flat = (np.arange(spec.n_blocks) * nk * ne)[None, :] + kidx * ne + eidx
        return np.where(mask, flat, -1)

    @staticmethod
    def _gather(table: np.ndarray, flat_idx: np.ndarray) -> np.ndarray:
        """(N, n_blocks) per-slot values; index -1 (inactive slot) reads a trailing zero."""
        return np.append(table, 0)[flat_idx]

    def _slot_params(self, flat_idx: np.ndarray) -> np.ndarray:
        return self._gather(self._block_params.reshape(-1), flat_idx)

    def _slot_macs(self, batch: ArchBatch, flat_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fixed-layer MACs (N,) and per-slot MACs (N, n_blocks), one table per resolution."""
        fixed = np.zeros(len(batch), dtype=np.int64)
        slots = np.zeros(flat_idx.shape, dtype=np.int64)
        for r in np.unique(batch.r):
            rows = batch.r == r
            fixed[rows], table = self._macs_table(int(r))
            slots[rows] = self._gather(table, flat_idx[rows])
        return fixed, slots

    def params(self, batch: ArchBatch) -> np.ndarray:
        """(N,) exact parameter counts."""
        return self._fixed_params + self._slot_params(self._flat_index(batch)).sum(axis=1)

    def macs(self, batch: ArchBatch) -> np.ndarray:
        """(N,) multiply-accumulates of conv and linear layers (official FLOPs convention)."""
        fixed, slots = self._slot_macs(batch, self._flat_index(batch))
        return fixed + slots.sum(axis=1)

    def params_and_macs(self, batch: ArchBatch) -> tuple[np.ndarray, np.ndarray]:
        """Both at once, sharing the index computation (the search loop's form)."""
        flat_idx = self._flat_index(batch)
        fixed, slots = self._slot_macs(batch, flat_idx)
        return self._fixed_params + self._slot_params(flat_idx).sum(axis=1), fixed + slots.sum(axis=1)

    def stage_costs(self, batch: ArchBatch) -> tuple[np.ndarray, np.ndarray]:
        """Per-stage (N, n_stages) params and MACs of the elastic blocks (fixed layers excluded)."""
        flat_idx = self._flat_index(batch)
        _, slots = self._slot_macs(batch, flat_idx)
        starts = self._stage_starts
        return (np.add.reduceat(self._slot_params(flat_idx), starts, axis=1),
                np.add.reduceat(slots, starts, axis=1))


def mobilenet_arch_costs(spec: SpaceSpec, arch: Arch) -> tuple[int, int]:
    model = cost_model(spec)  # the cached `CostModel` of the space
    batch = ArchBatch.from_archs([arch])
    return int(model.params(batch)[0]), int(model.macs(batch)[0])


__all__ = ["CostModel", "mobilenet_arch_costs"]
