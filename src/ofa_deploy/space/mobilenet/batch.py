"""Many MobileNet-family archs at once as integer arrays: the form the search loop and the predictors work on.

`ArchBatch` holds values (not indices): ks and e `(N, n_blocks)`, d `(N, n_stages)`, r `(N,)`.
Nothing here builds per-arch Python objects except the explicit converters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import SpaceError
from ..encoding import ArrayBatch
from .arch import Arch
from .spec import SpaceSpec


@dataclass
class ArchBatch(ArrayBatch):
    """Kernel sizes and expand ratios (N, n_blocks), stage depths (N, n_stages), resolutions (N,)."""

    fields = ("ks", "e", "d")
    arch = Arch

    ks: np.ndarray
    e: np.ndarray
    d: np.ndarray
    r: np.ndarray

    def __post_init__(self) -> None:
        n = self.as_arrays(ks=np.int64, e=np.int64, d=np.int64)
        if self.ks.shape[0] != n or self.e.shape[0] != n or self.d.shape[0] != n:
            raise SpaceError("ArchBatch arrays must have the same number of rows")

    def active_mask(self, spec: SpaceSpec) -> np.ndarray:
        """(N, n_blocks) bool: which block slots are part of each subnet."""
        return active_mask(self.d, spec)

    def choice_indices(self, spec: SpaceSpec) -> tuple[np.ndarray, np.ndarray]:
        """Index of each kernel / expand value in the space's choice lists; -1 where not a choice."""
        return value_index(self.ks, spec.ks_list), value_index(self.e, spec.expand_list)


def active_mask(d: np.ndarray, spec: SpaceSpec) -> np.ndarray:
    """(N, n_blocks) bool from stage depths (N, n_stages): slot j of stage s runs when j < d[s]."""
    return slot_mask(d, spec.slot_stage, spec.slot_pos)


def slot_mask(d: np.ndarray, slot_stage: np.ndarray, slot_pos: np.ndarray) -> np.ndarray:
    """`active_mask` of a slot layout given as each slot's stage and index in it."""
    d = np.asarray(d)
    return slot_pos[None, :] < d[:, slot_stage]


def value_index(values: np.ndarray, choices: Iterable[int]) -> np.ndarray:
    """Map values to their index in a sorted choice list (vectorised); -1 for values not in it."""
    choices = sorted(choices)
    values = np.asarray(values)
    top = max(choices)
    lut = np.full(top + 2, -1, dtype=np.int64)
    lut[choices] = np.arange(len(choices))
    return lut[np.clip(values, -1, top + 1)]


def sample_mobilenet_archs(spec: SpaceSpec, n: int, rng: np.random.Generator,
                           resolutions: Sequence[int] | None = None) -> ArchBatch:
    """`n` archs drawn uniformly from the space (each choice independent, as upstream samples)."""
    rs = np.asarray(resolutions if resolutions is not None else spec.resolutions)
    nb, ns = spec.n_blocks, spec.n_stages
    ks = rng.choice(np.asarray(spec.ks_list), size=(n, nb))
    e = rng.choice(np.asarray(spec.expand_list), size=(n, nb))
    d = rng.choice(np.asarray(spec.depth_list), size=(n, ns))
    fixed = spec.n_depth_choices == 1
    if fixed.any():  # stages of a fixed depth (ProxylessNAS's last block), as upstream's sampler
        d[:, fixed] = spec.depth_table[fixed, 0]
    return ArchBatch(ks, e, d, rng.choice(rs, size=n))


__all__ = ["ArchBatch", "active_mask", "sample_mobilenet_archs", "slot_mask", "value_index"]
