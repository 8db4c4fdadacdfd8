"""The MMRazor OFA subnet YAML (`backbone.layers.S.J.kernel_size: {chosen: K}` ...): MMRazor publishes
subnets of the MobileNetV3 kind only. `space.formats` reads and writes it through the family's
`mmrazor` attribute (this module; None for a family without the format)."""

from __future__ import annotations

from typing import Any

from ...errors import FormatError
from .arch import Arch
from .netconfig import infer_space
from .spec import SpaceSpec


def write(spec: SpaceSpec, arch: Arch) -> dict[str, Any]:
    """The MMRazor subnet dict of an arch of a MobileNetV3 space."""
    md = spec.max_depth
    out: dict[str, Any] = {
        "backbone.first_channels": {"chosen": spec.first_conv_width},
        "backbone.last_channels": {"chosen": spec.last_channel},
        "backbone.layers.1.0.expand_ratio": {"chosen": 1},
        "backbone.layers.1.0.kernel_size": {"chosen": 3},
        "backbone.layers.1.depth": {"chosen": 1},
        "backbone.layers.1.out_channels": {"chosen": spec.first_block_width},
    }
    for s in range(spec.n_stages):
        layer = f"backbone.layers.{s + 2}"
        for j in range(md):
            i = s * md + j
            out[f"{layer}.{j}.expand_ratio"] = {"chosen": arch.e[i]}
            if spec.stage_se[s]:
                out[f"{layer}.{j}.expand_ratio_se"] = {"chosen": arch.e[i]}
            out[f"{layer}.{j}.kernel_size"] = {"chosen": arch.ks[i]}
        out[f"{layer}.depth"] = {"chosen": arch.d[s]}
        out[f"{layer}.out_channels"] = {"chosen": spec.stage_widths[s]}
    out["input_shape"] = {"chosen": [arch.r, arch.r]}
    return out


def read(d: dict[str, Any], n_classes: int = 1000) -> tuple[SpaceSpec, Arch]:
    """Read an MMRazor OFA subnet YAML; entries of blocks beyond a stage's depth are ignored."""

    def chosen(key: str) -> Any:
        if key not in d:
            raise FormatError(f"MMRazor subnet lacks {key!r}")
        v = d[key]
        return v.get("chosen") if isinstance(v, dict) else v

    try:
        first = int(chosen("backbone.first_channels"))
        last = int(chosen("backbone.last_channels"))
        n_stages = 5
        widths = [int(chosen(f"backbone.layers.{s + 2}.out_channels")) for s in range(n_stages)]
        depths = [int(chosen(f"backbone.layers.{s + 2}.depth")) for s in range(n_stages)]
        shape = chosen("input_shape")
        r = int(shape[0] if isinstance(shape, (list, tuple)) else shape)
    except (TypeError, ValueError) as e:
        raise FormatError(f"MMRazor subnet has a malformed value: {e}") from None
    spec = infer_space(first, widths, None, last, n_classes)
    ks, es = [], []
    for s in range(n_stages):
        for j in range(spec.max_depth):
            if j < depths[s]:
                ks.append(int(chosen(f"backbone.layers.{s + 2}.{j}.kernel_size")))
                es.append(int(chosen(f"backbone.layers.{s + 2}.{j}.expand_ratio")))
            else:
                ks.append(spec.ks_list[0])
                es.append(spec.expand_list[0])
    arch = Arch(tuple(ks), tuple(es), tuple(depths), r)
    return spec, arch


__all__ = ["read", "write"]
