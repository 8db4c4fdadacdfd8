"""Sampling many subnets of a space of any family at once, as its batch class (asked of its family).

Each family's batch is its own (`space.mobilenet.batch.ArchBatch`, `space.resnet50.costs.ResNetBatch`):
integer arrays, one row per subnet, the form the search loop and the predictors work on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import SpaceError
from .family import FamilyBatch, FamilySpec, family_of


class ArrayBatch:
    """What every family's batch shares (a base of `ArchBatch`, `ResNetBatch`): one array per arch
    field named in `fields` (N rows each) plus `r` (N,), converted from and to the family's arch
    class (`arch`, built from the fields' tuples and the resolution), and indexed by rows."""

    fields: ClassVar[tuple[str, ...]]
    arch: ClassVar[type]
    r: np.ndarray

    if TYPE_CHECKING:  # each family's batch is a dataclass of its `fields`, then `r`
        def __init__(self, *columns: Any) -> None: ...

    def as_arrays(self, **dtypes: Any) -> int:
        """Each field as an array of its dtype (`field=dtype`, in `fields` order), `r` as (N,)
        int64 (the families' `__post_init__`); returns N."""
        for f in self.fields:
            setattr(self, f, np.asarray(getattr(self, f), dtype=dtypes[f]))
        self.r = np.asarray(self.r, dtype=np.int64).reshape(-1)
        return len(self.r)

    def __len__(self) -> int:
        return len(self.r)

    @classmethod
    def from_archs(cls, archs: Sequence[Any]) -> Any:
        if not archs:
            raise SpaceError("no archs given")
        return cls(*(np.array([getattr(a, f) for a in archs]) for f in cls.fields),
                   np.array([a.r for a in archs]))

    def to_archs(self) -> list[Any]:
        columns = [getattr(self, f) for f in self.fields]
        return [self.arch(*(tuple(c[i].tolist()) for c in columns), int(self.r[i])) for i in range(len(self))]

    def __getitem__(self, idx: Any) -> Any:
        idx = np.atleast_1d(np.arange(len(self))[idx])
        return type(self)(*(getattr(self, f)[idx] for f in self.fields), self.r[idx])


def sample_archs(spec: FamilySpec, n: int, rng: np.random.Generator,
                 resolutions: Sequence[int] | None = None) -> FamilyBatch:
    """`n` archs drawn uniformly from a space of any family (its batch class)."""
    return family_of(spec).sample_archs(spec, n, rng, resolutions)


__all__ = ["ArrayBatch", "sample_archs"]
