"""The largest, smallest and middle subnet of a space of any family (asked of its family), and what
"middle" means for a list of choices (`middle_choice`).

Each family's arch class is its own (`space.mobilenet.arch.Arch`, `space.resnet50.spec.ResNetArch`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .family import FamilyArch, FamilySpec, family_of


def largest_arch(spec: FamilySpec, r: int | None = None) -> FamilyArch:
    """The largest subnet of a space of any family (at `r`, default its largest resolution)."""
    return family_of(spec).largest_arch(spec, r)


def smallest_arch(spec: FamilySpec, r: int | None = None) -> FamilyArch:
    return family_of(spec).smallest_arch(spec, r)


def middle_arch(spec: FamilySpec, r: int | None = None) -> FamilyArch:
    """The arch with the middle choice of every dimension (used in reports)."""
    return family_of(spec).middle_arch(spec, r)


def middle_choice(values: Sequence[int]) -> int:
    """The middle of a list of choices (the upper middle of an even count): what "middle" means in
    reports, phase reports and from-scratch baselines alike."""
    return sorted(values)[len(values) // 2]


__all__ = ["largest_arch", "middle_arch", "middle_choice", "smallest_arch"]
