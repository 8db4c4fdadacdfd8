"""The largest, smallest and middle subnet of a space of any family (asked of its family), and what
"middle" means for a list of choices (`middle_choice`).

Each family's arch class is its own (`space.mobilenet.arch.Arch`, `space.resnet50.spec.ResNetArch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from ..errors import SpaceError
from .family import FamilyArch, FamilySpec, family_of

V = TypeVar("V", int, float)


def largest_arch(spec: FamilySpec, r: int | None = None) -> FamilyArch:
    """The largest subnet of a space of any family (at `r`, default its largest resolution)."""
    return family_of(spec).largest_arch(spec, r)


def smallest_arch(spec: FamilySpec, r: int | None = None) -> FamilyArch:
    return family_of(spec).smallest_arch(spec, r)


def middle_arch(spec: FamilySpec, r: int | None = None) -> FamilyArch:
    """The arch with the middle choice of every dimension (used in reports)."""
    return family_of(spec).middle_arch(spec, r)


def middle_choice(values: Sequence[V]) -> V:
    """The middle of a list of choices (the upper middle of an even count): what "middle" means in
    reports, phase reports and from-scratch baselines alike."""
    return sorted(values)[len(values) // 2]


def arch_dict_fields(d: Any, fields: tuple[str, ...], r_name: str, no_resolution: str,
                     family: str = "") -> tuple[list[Any], Any]:
    """The gene fields and the resolution of an arch dict of any family (every family's `from_dict`):
    a mapping holding `fields` and a resolution as `r`, the official `image_size` or `resolution`,
    one value or the tutorial's `[r]` / `[r, r]`. `r_name` is the resolution key the family's
    messages name, `no_resolution` its message when there is none; `family` prefixes the messages."""
    if not isinstance(d, dict):
        raise SpaceError(f"{'a ' + family if family else 'an '}arch must be a mapping with {', '.join(fields)} and {r_name}, "
                         f"got {type(d).__name__}")
    missing = [k for k in fields if k not in d]
    if missing:
        raise SpaceError(f"{family}arch is missing {', '.join(missing)} (expected keys: {', '.join(fields)}, {r_name})")
    for key in ("r", "image_size", "resolution"):
        if key in d:
            r = d[key]
            break
    else:
        raise SpaceError(no_resolution)
    if isinstance(r, (list, tuple)):
        if len(r) != 1 and not (len(r) == 2 and r[0] == r[1]):
            raise SpaceError(f"arch resolution must be one value, got {list(r)}")
        r = r[0]
    return [d[k] for k in fields], r


__all__ = ["arch_dict_fields", "largest_arch", "middle_arch", "middle_choice", "smallest_arch"]
