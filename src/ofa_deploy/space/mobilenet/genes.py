"""Search genes of a MobileNet-family space (`MobileNetGenes`): kernel and expand index per block
slot, depth index per stage; the interface every family's genes follow is `space.genes`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import SpaceError
from ..genes import CountedGenes
from .arch import Arch
from .batch import ArchBatch
from .spec import SpaceSpec


class MobileNetGenes(CountedGenes):
    """Genes of a MobileNet-family space: kernel index per slot, expand index per slot, depth
    index per stage (into the stage's own depth choices)."""

    names = ("ks", "e", "d")

    def __init__(self, spec: SpaceSpec):
        self.spec = spec
        nb, ns = spec.n_blocks, spec.n_stages
        self.nb, self.ns = nb, ns
        self.nk, self.ne = len(spec.ks_list), len(spec.expand_list)
        self.widths = (nb, nb, ns)
        self.n_slots = nb
        self.counts = np.array([self.nk] * nb + [self.ne] * nb + list(spec.n_depth_choices), dtype=np.int64)
        # a slot's kernel and expand ratio are resampled together (one draw per slot, as the tutorial)
        self.groups = np.concatenate([np.arange(nb), np.arange(nb), nb + np.arange(ns)])
        self.n_groups = nb + ns
        self.term_sizes = (self.nk * self.ne,) * nb
        self.n_codes = nb * self.nk * self.ne
        self._dtab = spec.depth_table
        self._stage_ix = np.arange(ns)
        self._slot = np.arange(nb)

    # ---- columns ---------------------------------------------------------------------------
    def k(self, x: np.ndarray) -> np.ndarray:
        return x[:, : self.nb]

    def e(self, x: np.ndarray) -> np.ndarray:
        return x[:, self.nb: 2 * self.nb]

    def d(self, x: np.ndarray) -> np.ndarray:
        return x[:, 2 * self.nb: 2 * self.nb + self.ns]

    def _join(self, k: np.ndarray, e: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.concatenate([k, e, d], axis=1).astype(np.int64)

    # ---- populations -----------------------------------------------------------------------
    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._join(rng.integers(self.nk, size=(n, self.nb)), rng.integers(self.ne, size=(n, self.nb)),
                          rng.integers(self.spec.n_depth_choices, size=(n, self.ns)))

    def depth_values(self, d: np.ndarray) -> np.ndarray:
        """(N, n_stages) depths of depth genes (indices into each stage's depth choices)."""
        return self._dtab[self._stage_ix[None, :], d]

    def mask(self, x: np.ndarray) -> np.ndarray:
        spec = self.spec
        return spec.slot_pos[None, :] < self.depth_values(self.d(x))[:, spec.slot_stage]

    def to_batch(self, x: np.ndarray, r: np.ndarray) -> ArchBatch:
        spec = self.spec
        return ArchBatch(np.asarray(spec.ks_list)[self.k(x)], np.asarray(spec.expand_list)[self.e(x)],
                         self.depth_values(self.d(x)), r)

    def batch_of(self, archs: Sequence[Any]) -> ArchBatch:
        return ArchBatch.from_archs(list(archs))

    def from_batch(self, batch: ArchBatch) -> np.ndarray:
        kidx, eidx = batch.choice_indices(self.spec)
        d = np.asarray(batch.d)
        didx = (self._dtab[None, :, :] < d[:, :, None]).sum(axis=2)  # index of each depth in its stage's choices
        if (kidx < 0).any() or (eidx < 0).any() or not self.spec.depths_valid(d).all():
            raise SpaceError("archs outside the search's choices or candidate resolutions")
        return self._join(kidx, eidx, didx)

    def n_subnets(self) -> int:
        """Distinct subnets at one resolution (inactive slots ignored)."""
        per_block = self.nk * self.ne
        n = 1
        for choices in self.spec.stage_depth_choices:
            n *= sum(per_block ** d for d in choices)
        return n

    def key_rows(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.concatenate([np.where(mask, self.k(x) + 1, 0), np.where(mask, self.e(x) + 1, 0), self.d(x)], axis=1)

    # ---- training phases (progressive shrinking) -------------------------------------------
    def phase_dims(self) -> dict[str, tuple[Any, ...]]:
        """The dimensions a training phase restricts (recipe field -> the space's choices)."""
        spec = self.spec
        return {"ks": tuple(spec.ks_list), "expand": tuple(spec.expand_list), "depth": tuple(spec.depth_list)}

    def sample_phase_arch(self, phase: Any, rng: np.random.Generator, r: int) -> Any:
        """A subnet among a phase's choices, each drawn uniformly and independently (as upstream)."""
        spec = self.spec
        nb, ns = spec.n_blocks, spec.n_stages
        return Arch(tuple(int(v) for v in rng.choice(phase.ks, nb)),
                    tuple(int(v) for v in rng.choice(phase.expand, nb)),
                    spec.stage_depths(tuple(int(v) for v in rng.choice(phase.depth, ns))), r)

    def phase_arch(self, phase: Any, pick: Any, r: int) -> Any:
        """The subnet taking `pick` (max, min, ...) of the phase's choices everywhere."""
        spec = self.spec
        return Arch((pick(phase.ks),) * spec.n_blocks, (pick(phase.expand),) * spec.n_blocks,
                    spec.stage_depths((pick(phase.depth),) * spec.n_stages), r)

    # ---- additive objectives ---------------------------------------------------------------
    def term_codes(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        codes = (self._slot[None, :] * self.nk + self.k(x)) * self.ne + self.e(x)
        return np.where(mask, codes, -1)

    def design(self) -> np.ndarray:
        """The base arch (smallest choices, all slots active), one slot changed at a time, and one
        stage's depth changed at a time: values at these read every table entry off directly."""
        spec = self.spec
        nb, ns, nk, ne = self.nb, self.ns, self.nk, self.ne
        top = spec.n_depth_choices - 1
        base = np.zeros((1, nb), np.int64)
        var_k, var_e = [], []
        for i in range(nb):
            for a in range(nk):
                for b in range(ne):
                    if a or b:
                        k, e = base.copy(), base.copy()
                        k[0, i], e[0, i] = a, b
                        var_k.append(k)
                        var_e.append(e)
        dd = []
        for s in range(ns):
            for di in range(len(spec.stage_depth_choices[s])):
                d = top[None, :].copy()
                d[0, s] = di
                dd.append(d)
        n_var, n_dep = len(var_k), len(dd)
        k_all = np.concatenate([base] + var_k + [base] * n_dep)
        e_all = np.concatenate([base] + var_e + [base] * n_dep)
        d_all = np.concatenate([np.tile(top, (1 + n_var, 1))] + dd)
        return self._join(k_all, e_all, d_all)

    def solve(self, x: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fixed (R,), table (R, n_codes)) from the values (R, len(design)) at `design()`."""
        spec = self.spec
        nb, nk, ne = self.nb, self.nk, self.ne
        choices = spec.stage_depth_choices
        R = vals.shape[0]
        base = vals[:, 0]
        rel = np.full((R, nb, nk, ne), np.nan)
        rel[:, :, 0, 0] = 0.0
        vi = 0
        for i in range(nb):
            for a in range(nk):
                for b in range(ne):
                    if a or b:
                        rel[:, i, a, b] = vals[:, 1 + vi] - base
                        vi += 1
        g = vals[:, 1 + vi:]
        slot_base = np.zeros((R, nb))
        col = 0
        for s in range(self.ns):
            for t in range(len(choices[s]) - 1):
                slot_base[:, spec.slot(s, choices[s][t])] = g[:, col + t + 1] - g[:, col + t]
            col += len(choices[s])
        slots = rel + slot_base[:, :, None, None]
        return base - slot_base.sum(axis=1), slots.reshape(R, -1)

    def minimum(self, fixed: float, table: np.ndarray) -> tuple[float, np.ndarray]:
        """Exact smallest `fixed + sum of terms` over the space's genes at one resolution, and its genes:
        the cheapest (kernel, expand) per slot, then the cheapest depth per stage."""
        spec = self.spec
        flat = table.reshape(self.nb, self.nk * self.ne)
        choice = flat.argmin(axis=1)
        per_slot = flat.min(axis=1)
        didx = np.zeros(self.ns, np.int64)
        total = fixed
        for s, cs in enumerate(spec.stage_depth_choices):
            cum = np.cumsum(per_slot[spec.slot(s, 0):spec.slot(s, 0) + spec.stage_max_depths[s]])
            stage_vals = cum[np.asarray(cs) - 1]  # value of each depth choice of the stage
            didx[s] = int(stage_vals.argmin())
            total = total + stage_vals[didx[s]]
        return float(total), self._join((choice // self.ne)[None, :], (choice % self.ne)[None, :], didx[None, :])


__all__ = ["MobileNetGenes"]
