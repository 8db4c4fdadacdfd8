"""What `ofa-deploy subnet show` reports of a subnet: its space, arch, resolution, params and MACs,
and one record per stage (the MobileNet kinds' widths, kernels, expands, strides, SE and
activations; a family of its own, ResNet50, reports its own stages)."""

from __future__ import annotations

from typing import Any

from .costs import arch_costs, cost_model
from .encoding import ArchBatch
from .formats import Subnet
from .kinds import SpaceKind


def subnet_summary(sub: Subnet) -> dict[str, Any]:
    """The subnet's format, space, canonical arch, resolution, params, MACs, stages and metadata."""
    kind = sub.spec.kind_info
    if not isinstance(kind, SpaceKind):  # a family of its own (ResNet50) reports its own stages
        params, macs = kind.arch_costs(sub.spec, sub.arch)
        return {"format": sub.source_format, "space": sub.spec.to_dict(),
                "arch": sub.arch.canonical(sub.spec).to_dict(), "resolution": sub.arch.r, "params": params,
                "macs": macs, "stages": kind.summary_stages(sub.spec, sub.arch), "meta": sub.meta,
                "rest": "input stem, max pooling and classifier"}
    params, macs = arch_costs(sub.spec, sub.arch)
    return {
        "format": sub.source_format,
        "space": sub.spec.to_dict(),
        "arch": sub.arch.canonical(sub.spec).to_dict(),
        "resolution": sub.arch.r,
        "params": params,
        "macs": macs,
        "stages": mobilenet_stages(sub),
        "meta": sub.meta,
    }


def mobilenet_stages(sub: Subnet) -> list[dict[str, Any]]:
    """One record per stage of a MobileNet-kind subnet, with its params and MACs."""
    stage_params, stage_macs = (v[0] for v in cost_model(sub.spec).stage_costs(ArchBatch.from_archs([sub.arch])))
    stages = []
    for s, depth in enumerate(sub.arch.d):
        slots = range(sub.spec.slot(s, 0), sub.spec.slot(s, 0) + depth)
        stages.append({
            "stage": s + 1,
            "width": sub.spec.stage_widths[s],
            "depth": depth,
            "kernels": [sub.arch.ks[i] for i in slots],
            "expands": [sub.arch.e[i] for i in slots],
            "stride": sub.spec.stage_strides[s],
            "se": sub.spec.stage_se[s],
            "act": sub.spec.stage_acts[s],
            "params": int(stage_params[s]),
            "macs": int(stage_macs[s]),
        })
    return stages
