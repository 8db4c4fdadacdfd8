"""The MobileNet family's official arch dict (`{ks, e, d, image_size}`) and the released space such
a dict belongs to when no supernet says (by its gene counts)."""

from __future__ import annotations

from typing import Any

from ...errors import FormatError
from .arch import Arch
from .kinds import kinds
from .spec import SpaceSpec


def mobilenet_official_arch(a: Arch) -> dict[str, Any]:
    return {"ks": list(a.ks), "e": list(a.e), "d": list(a.d), "image_size": a.r}


def space_of_genes(arch: Arch) -> SpaceSpec:
    """The released space of the MobileNet-family kind whose gene counts `arch` has."""
    for kind in kinds():
        spec = SpaceSpec(width_mult=kind.default_width, kind=kind.name)
        if len(arch.ks) == spec.n_blocks and len(arch.d) == spec.n_stages:
            return spec
    sizes = ", ".join(f"{SpaceSpec(kind=k.name).n_blocks} for {k.title}" for k in kinds())
    raise FormatError(f"arch dict with {len(arch.ks)} kernel sizes and {len(arch.d)} depths matches no OFA "
                      f"space ({sizes})")


__all__ = ["mobilenet_official_arch", "space_of_genes"]
