"""Search genes of a space: each kind declares its integer gene arrays and their choices.

Why here: the search (`search.problem`, `search.evolution`) holds a population as one integer
matrix of choice indices and evaluates it with numpy gathers only. What the columns mean differs
per kind (MobileNet family: kernel and expand index per slot, depth index per stage; ResNet50:
depth, expand and width indices), so the kind provides a gene space (`gene_space(spec)`) with:

* `names`, `widths`: the gene arrays and their columns; `counts` (choices per column) and
  `groups` (columns that mutate together share a group: a MobileNet slot's kernel and expand);
* `random`, `smallest`, `largest`; `mask` (active block slots); `to_batch` / `from_batch`
  (the kind's arch batch) and `batch_of` (archs to a batch);
* `term_sizes` and `term_codes`: every additive objective (latency block sums, FLOPs, params) is
  `fixed[r] + sum over terms t of table[r, code_t]` with one code per term (-1: term absent),
  `design` / `solve` to read the table off an objective's public predictor, and `minimum`
  (exact smallest value of such a sum);
* `phase_dims`, `sample_phase_arch`, `phase_arch`: what a training phase restricts, and its subnets;
* `key_rows`: one row per distinct subnet (inactive slots ignored), for de-duplication, and
  `n_subnets` (how many distinct subnets one resolution holds).

The search reads only this interface; it never tests the kind's name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .family import FamilySpec, family_of


class CountedGenes:
    """What every family's genes share: each column `i` takes an index in `0..counts[i]-1`, so the
    smallest genes are all zeros and the largest `counts - 1` (a base of each family's gene class)."""

    counts: np.ndarray

    def smallest(self) -> np.ndarray:
        return np.zeros((1, len(self.counts)), np.int64)

    def largest(self) -> np.ndarray:
        return (self.counts - 1)[None, :].copy()


def solve_additive(genes: Any, x: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fixed (R,), table (R, n_codes)) by least squares on the one-hot codes of the archs `x`.

    For kinds whose terms cannot be changed one at a time (a ResNet50 stage's width gene sets the
    output width of its blocks and the input width of the next stage's first one): the additive
    model is linear in the one-hot codes, so a least-squares fit on enough archs reads it off
    exactly (up to float rounding); the caller checks it on other archs.
    """
    codes = genes.term_codes(x, genes.mask(x))
    n = len(x)
    a = np.zeros((n, genes.n_codes + 1))
    rows, cols = np.nonzero(codes >= 0)
    np.add.at(a, (rows, codes[rows, cols]), 1.0)
    a[:, -1] = 1.0
    scale = np.maximum(np.abs(vals).max(axis=1, keepdims=True), 1.0)  # (R, 1): one fit for every resolution
    sol, *_ = np.linalg.lstsq(a, (vals / scale).T, rcond=None)
    sol = sol.T * scale
    return sol[:, -1], sol[:, :-1]


def gene_space(spec: FamilySpec) -> Any:
    """The search genes of a space, its family's (`space.mobilenet.genes.MobileNetGenes`,
    `space.resnet50.genes.ResNetGenes`)."""
    return family_of(spec).gene_space(spec)


__all__ = ["CountedGenes", "gene_space", "solve_additive"]
