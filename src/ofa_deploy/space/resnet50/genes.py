"""Search genes of the OFA ResNet50 space (the interface of `space.genes`), as integer choice indices.

Columns: `d` (5: the input-stem flag as an index into `{depth_list[0], max(depth_list)}`, then one
index into `depth_list` per stage), `e` (one expand index per block slot), `w` (6 width indices).
Each column mutates on its own. A width index that gives the same channels as a smaller one (the
official stem's 24 channels at both 0.65 and 0.8) is read as the smallest one everywhere (batch,
features, keys), so one subnet is one set of genes as far as costs and the predictor go.

Additive terms (latency block sums, FLOPs, params): the stem (`w[0]`, stem kept or skipped), the
stem's third conv and pooling (`w[0]`, `w[1]`), the head (`w[5]`), and one per block slot
(input width index, output width index, expand index; absent when the slot does not run).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np

from ...errors import SpaceError
from ..genes import CountedGenes
from .costs import ResNetBatch
from .spec import BASE_DEPTH_LIST, ResNet50Spec, ResNetArch


class ResNetGenes(CountedGenes):
    names = ("d", "e", "w")

    def __init__(self, spec: ResNet50Spec):
        self.spec = spec
        ns, nb, nw, ne = spec.n_stages, spec.n_blocks, spec.n_widths, len(spec.expand_list)
        self.ns, self.nb, self.nwg = ns, nb, nw
        self.n_w, self.ne = len(spec.width_mult_list), ne
        self.stem_choices = np.asarray(sorted({spec.depth_list[0], spec.max_depth}))
        self.depths = np.asarray(spec.depth_list)
        self.widths = (ns + 1, nb, nw)
        self.n_slots = nb
        self.counts = np.array([len(self.stem_choices)] + [len(self.depths)] * ns + [ne] * nb + [self.n_w] * nw,
                               dtype=np.int64)
        self.groups = np.arange(len(self.counts))
        self.n_groups = len(self.counts)
        lists = (spec.stem_mid_widths, spec.stem_widths, *spec.stage_widths)
        # per width gene: the smallest index giving the same channels (one subnet, one set of genes)
        self._wmap = np.array([[ws.index(ws[i]) for i in range(self.n_w)] for ws in lists], dtype=np.int64)
        self._wcol = np.arange(nw)
        nwc = self.n_w
        self.term_sizes = (2 * nwc, nwc * nwc, nwc) + (nwc * nwc * ne,) * nb
        self._offsets = np.concatenate([[0], np.cumsum(self.term_sizes)[:-1]])
        self.n_codes = int(sum(self.term_sizes))
        slot_stage = np.asarray(spec.slot_stage)
        self._slot_stage = slot_stage
        self._slot_index = np.asarray(spec.slot_index)
        self._base = np.asarray(BASE_DEPTH_LIST)
        first = self._slot_index == 0
        self._in_gene = np.where(first, 1 + slot_stage, 2 + slot_stage)  # as `ResNet50CostModel`
        self._out_gene = 2 + slot_stage

    # ---- columns ---------------------------------------------------------------------------
    def d(self, x: np.ndarray) -> np.ndarray:
        return x[:, : self.ns + 1]

    def e(self, x: np.ndarray) -> np.ndarray:
        return x[:, self.ns + 1: self.ns + 1 + self.nb]

    def w(self, x: np.ndarray) -> np.ndarray:
        """Width indices, each the smallest index with the same channels."""
        return self._wmap[self._wcol[None, :], x[:, self.ns + 1 + self.nb:]]

    # ---- populations -----------------------------------------------------------------------
    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return (rng.random((n, len(self.counts))) * self.counts).astype(np.int64)

    def mask(self, x: np.ndarray) -> np.ndarray:
        depth = self._base[self._slot_stage][None, :] + self.depths[x[:, 1 + self._slot_stage]]
        return self._slot_index[None, :] < depth

    def to_batch(self, x: np.ndarray, r: np.ndarray) -> ResNetBatch:
        d = np.concatenate([self.stem_choices[x[:, :1]], self.depths[x[:, 1: self.ns + 1]]], axis=1)
        return ResNetBatch(d, np.asarray(self.spec.expand_list)[self.e(x)], self.w(x), r)

    def batch_of(self, archs: Sequence[Any]) -> ResNetBatch:
        return ResNetBatch.from_archs(list(archs))

    def from_batch(self, batch: ResNetBatch) -> np.ndarray:
        try:
            _, eidx = batch.check(self.spec)
        except SpaceError:
            raise SpaceError("archs outside the search's choices or candidate resolutions") from None
        stem = np.searchsorted(self.stem_choices, batch.d[:, :1])
        dd = np.searchsorted(self.depths, batch.d[:, 1:])
        return np.concatenate([stem, dd, np.maximum(eidx, 0), batch.w], axis=1).astype(np.int64)

    def n_subnets(self) -> int:
        """Distinct subnets at one resolution: distinct width combinations (channels), stem choices,
        and per stage the expand choices of each depth's blocks."""
        n = int(np.prod([len(set(ws)) for ws in (self.spec.stem_mid_widths, self.spec.stem_widths,
                                                  *self.spec.stage_widths)]))
        n *= len(self.stem_choices)
        for b in self._base:
            n *= sum(self.ne ** int(b + d) for d in self.depths)
        return n

    def key_rows(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.concatenate([self.d(x), np.where(mask, self.e(x) + 1, 0), self.w(x)], axis=1)

    # ---- training phases (upstream's elastic depth, expand, width) ---------------------------
    def phase_dims(self) -> dict[str, tuple[Any, ...]]:
        spec = self.spec
        return {"depth": tuple(spec.depth_list), "expand": tuple(spec.expand_list),
                "width": tuple(spec.width_mult_list)}

    def _stem(self, depth: int) -> int:
        """`d[0]` for a phase depth: the stem's residual conv runs only at the space's largest depth."""
        return self.spec.max_depth if depth == self.spec.max_depth else self.spec.depth_list[0]

    def _width_index(self, m: float) -> int:
        return min(range(self.n_w), key=lambda i: abs(self.spec.width_mult_list[i] - m))

    def sample_phase_arch(self, phase: Any, rng: np.random.Generator, r: int) -> ResNetArch:
        """As upstream's `sample_active_subnet` within a phase's choices: the stem flag from the
        smallest and largest depth, each stage's depth, each slot's expand ratio, each width."""
        ns, nb = self.ns, self.nb
        stem = self._stem(int(rng.choice([min(phase.depth), max(phase.depth)])))
        d = (stem, *(int(v) for v in rng.choice(phase.depth, ns)))
        e = tuple(float(v) for v in rng.choice(phase.expand, nb))
        widx = [self._width_index(m) for m in phase.width]
        return ResNetArch(d, e, tuple(int(v) for v in rng.choice(widx, self.nwg)), r)

    def phase_arch(self, phase: Any, pick: Any, r: int) -> ResNetArch:
        """`pick` of every choice; the stem's residual conv is skipped only in the phase's smallest
        depth (the middle subnet keeps it, as `middle_resnet_arch`)."""
        depth = pick(phase.depth)
        stem = self.spec.depth_list[0] if depth == min(phase.depth) and depth != self.spec.max_depth \
            else self.spec.max_depth
        return ResNetArch((stem,) + (depth,) * self.ns, (pick(phase.expand),) * self.nb,
                          (self._width_index(pick(phase.width)),) * self.nwg, r)

    # ---- additive objectives ---------------------------------------------------------------
    def term_codes(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, nwc, ne = self.w(x), self.n_w, self.ne
        keep = self.stem_choices[x[:, 0]] == self.spec.max_depth  # the stem's residual conv runs
        off = self._offsets
        stem = off[0] + w[:, 0] * 2 + keep
        stem2 = off[1] + w[:, 0] * nwc + w[:, 1]
        head = off[2] + w[:, -1]
        blocks = off[3:][None, :] + (w[:, self._in_gene] * nwc + w[:, self._out_gene]) * ne + self.e(x)
        return np.concatenate([stem[:, None], stem2[:, None], head[:, None], np.where(mask, blocks, -1)], axis=1)

    def design(self) -> np.ndarray:
        """Random archs (fixed seed), about 4 per table entry, plus the smallest and the largest."""
        rng = np.random.default_rng(20200101)
        return np.concatenate([self.smallest(), self.largest(), self.random(4 * self.n_codes + 64, rng)])

    def solve(self, x: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from ..genes import solve_additive

        return solve_additive(self, x, vals)

    def minimum(self, fixed: float, table: np.ndarray) -> tuple[float, np.ndarray]:
        """Exact smallest sum at one resolution: every width combination (n_widths ** 6, a few
        hundred), each with its cheapest expand per slot, cheapest depth per stage and stem choice."""
        nwc, ne, ns = self.n_w, self.ne, self.ns
        off = self._offsets
        W = np.array(list(product(range(nwc), repeat=self.nwg)), dtype=np.int64)  # (C, 6)
        W = np.unique(self._wmap[self._wcol[None, :], W], axis=0)  # the codes `term_codes` gives
        stem = table[off[0]: off[0] + 2 * nwc].reshape(nwc, 2)
        # option 0: skip the stem's residual conv (when the space can), option 1: keep it
        skip_possible = bool((self.stem_choices != self.spec.max_depth).any())
        keep_possible = bool((self.stem_choices == self.spec.max_depth).any())
        opts = np.stack([np.where(skip_possible, stem[W[:, 0], 0], np.inf),
                         np.where(keep_possible, stem[W[:, 0], 1], np.inf)], axis=1)
        keep = opts.argmin(axis=1)
        total = fixed + opts.min(axis=1)
        total = total + table[off[1] + W[:, 0] * nwc + W[:, 1]] + table[off[2] + W[:, -1]]
        blocks = np.stack([table[off[3 + i]: off[3 + i] + nwc * nwc * ne] for i in range(self.nb)])
        blocks = blocks.reshape(self.nb, nwc, nwc, ne)
        sel = blocks[np.arange(self.nb)[None, :], W[:, self._in_gene], W[:, self._out_gene]]  # (C, nb, ne)
        e_best = sel.argmin(axis=2)
        per_slot = sel.min(axis=2)
        d_best = np.zeros((len(W), ns), np.int64)
        starts = self.spec.stage_starts
        for s in range(ns):
            cum = np.cumsum(per_slot[:, starts[s]: starts[s] + self.spec.stage_slots[s]], axis=1)
            vals = cum[:, self._base[s] + self.depths - 1]  # (C, n depth choices)
            d_best[:, s] = vals.argmin(axis=1)
            total = total + vals.min(axis=1)
        c = int(np.argmin(total))
        stem_gene = np.searchsorted(self.stem_choices, self.spec.max_depth if keep[c] else self.stem_choices[0])
        x = np.concatenate([[stem_gene], d_best[c], e_best[c], W[c]]).astype(np.int64)[None, :]
        return float(total[c]), x


__all__ = ["ResNetGenes"]
