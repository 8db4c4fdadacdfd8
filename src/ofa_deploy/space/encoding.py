"""Sampling many subnets of a space of any family at once, as its batch class (asked of its family).

Each family's batch is its own (`space.mobilenet.batch.ArchBatch`, `space.resnet50.costs.ResNetBatch`):
integer arrays, one row per subnet, the form the search loop and the predictors work on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .family import FamilyBatch, FamilySpec, family_of


def sample_archs(spec: FamilySpec, n: int, rng: np.random.Generator,
                 resolutions: Sequence[int] | None = None) -> FamilyBatch:
    """`n` archs drawn uniformly from a space of any family (its batch class)."""
    return family_of(spec).sample_archs(spec, n, rng, resolutions)


__all__ = ["sample_archs"]
