"""Parameters and MACs of a subnet of any family in closed form (asked of its family), and the
space's vectorised cost model (cached: one per space).

Convention of the official OFA counters (`count_flops_given_config` of the official latency tables):
MACs of conv and linear layers only; parameters are the exact trainable parameter count of the
extracted subnet. Each family's cost model is its own (`space.mobilenet.costs.CostModel`,
`space.resnet50.costs.ResNet50CostModel`), with `params`, `macs`, `params_and_macs` of a batch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .family import FamilyArch, FamilySpec, family_of


def arch_costs(spec: FamilySpec, arch: FamilyArch) -> tuple[int, int]:
    """(params, MACs) of one arch of a space of any family (its closed forms)."""
    return family_of(spec).arch_costs(spec, arch)


@lru_cache(maxsize=16)
def cost_model(spec: FamilySpec) -> Any:
    """The vectorised cost model of a space of any family."""
    return family_of(spec).cost_model(spec)


__all__ = ["arch_costs", "cost_model"]
