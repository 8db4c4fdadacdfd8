"""What `subnet show` reports of a subnet of any family: its space, arch, cost and per-stage rows."""

from __future__ import annotations

from typing import Any

from .costs import arch_costs
from .family import family_of
from .formats import Subnet


def subnet_summary(sub: Subnet) -> dict[str, Any]:
    """Format, space, canonical arch, resolution, params, MACs and the family's per-stage rows
    (`rest`: what the family counts outside its stages, where it names it)."""
    family = family_of(sub.spec)
    params, macs = arch_costs(sub.spec, sub.arch)
    out = {"format": sub.source_format, "space": sub.spec.to_dict(), "arch": sub.arch.canonical(sub.spec).to_dict(),
           "resolution": sub.arch.r, "params": params, "macs": macs,
           "stages": family.summary_stages(sub.spec, sub.arch), "meta": sub.meta}
    if family.summary_rest is not None:
        out["rest"] = family.summary_rest
    return out


__all__ = ["subnet_summary"]
