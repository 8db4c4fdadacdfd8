"""The MobileNet family (OFA MobileNetV3, OFA ProxylessNAS) as a `SpaceFamily`.

A kind of this family is data (`space.mobilenet.kinds.SpaceKind`: widths, strides, activations, SE, head);
`MobileNetFamily` wraps one kind and answers every question the generic code asks a family
(`space.family.SpaceFamily`) with the MobileNet implementations kept beside the data they read:
`SpaceSpec` / `Arch` / `ArchBatch`, `CostModel`, `MobileNetGenes`, `OneHotEncoding`, the net.config,
arch dict and MMRazor formats, the checkpoint shapes (the modules of this package). `register_kind` declares a new kind of this family: its data
and its family object at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..costs import cost_model
from ..family import register_family
from . import mmrazor
from .arch import Arch, largest_mobilenet_arch, middle_mobilenet_arch, smallest_mobilenet_arch
from .batch import ArchBatch, sample_mobilenet_archs
from .checkpoint import infer_mobilenet_spec
from .costs import CostModel, mobilenet_arch_costs
from .encoding import OneHotEncoding
from .formats import mobilenet_official_arch, space_of_genes
from .genes import MobileNetGenes
from .kinds import OFA_MBV3, OFA_PROXYLESS, SpaceKind, declare_kind, kinds
from .netconfig import mobilenet_net_config, read_mobilenet_net_config
from .spec import SpaceSpec


class MobileNetFamily:
    """One kind of the MobileNet family (`kind`: its declaration) as a `SpaceFamily`."""

    structure = "mobilenet"  # its supernet: `nn.supernet.OFASupernet`; its table keys: `latency.mobilenet_keys`
    encodings: tuple[type, ...] = (OneHotEncoding,)

    def __init__(self, kind: SpaceKind):
        self.kind = kind
        self.name = kind.name
        self.title = kind.title
        self.net_name = kind.net_name
        self.tag_prefix = kind.tag_prefix
        self.module_names = kind.module_names
        self.mmrazor = mmrazor if kind.has_mmrazor else None  # MMRazor's subnet YAML (MobileNetV3 only)
        self.released_names = tuple(name for name, _ in kind.released)

    def __repr__(self) -> str:
        return f"MobileNetFamily({self.name!r})"

    # ---- spaces ---------------------------------------------------------------------------
    def spec_from_dict(self, d: dict[str, Any]) -> SpaceSpec:
        return SpaceSpec.from_dict(d)

    def official_space(self, width_mult: float | None = None, n_classes: int = 1000) -> SpaceSpec:
        w = self.kind.default_width if width_mult is None else width_mult
        return SpaceSpec(width_mult=w, n_classes=n_classes, kind=self.name)

    def released_space(self, name: str) -> SpaceSpec:
        """The space of a released supernet named by `released_names` (ImageNet, its width)."""
        return self.official_space(dict(self.kind.released)[name], 1000)

    def table_space(self, width_mult: float | None, n_classes: int, in_channels: int,
                    expand_list: tuple[int, ...] | None) -> SpaceSpec:
        base = self.official_space(width_mult, n_classes)
        return SpaceSpec(width_mult=base.width_mult, n_classes=n_classes, in_channels=in_channels, kind=self.name,
                         expand_list=expand_list if expand_list is not None else base.expand_list)

    def tag(self, spec: SpaceSpec) -> str:
        """Short folder name of a space, e.g. `w1.0_c10` or `w0.5_c10_in1_r24-32` (defaults omitted)."""
        ref = SpaceSpec()
        w = f"{spec.width_mult:.1f}" if round(spec.width_mult, 1) == spec.width_mult else f"{spec.width_mult:g}"
        prefix = self.tag_prefix
        parts = ([prefix] if prefix else []) + [f"w{w}", f"c{spec.n_classes}"]
        if spec.in_channels != 3:
            parts.append(f"in{spec.in_channels}")
        for name, short in (("ks_list", "k"), ("expand_list", "e"), ("depth_list", "d")):
            if getattr(spec, name) != getattr(ref, name):
                parts.append(short + "".join(str(v) for v in getattr(spec, name)))
        return "_".join(parts)

    def profile_options(self, spec: SpaceSpec) -> str:
        """The `profile` options that name this space (for messages)."""
        out = f" --width {spec.width_mult:g} --classes {spec.n_classes}"
        if spec.in_channels != 3:
            out += f" --in-channels {spec.in_channels}"
        return out

    # ---- archs ----------------------------------------------------------------------------
    def arch_from_dict(self, d: dict[str, Any]) -> Arch:
        return Arch.from_dict(d)

    def largest_arch(self, spec: SpaceSpec, r: int | None = None) -> Arch:
        return largest_mobilenet_arch(spec, r)

    def smallest_arch(self, spec: SpaceSpec, r: int | None = None) -> Arch:
        return smallest_mobilenet_arch(spec, r)

    def middle_arch(self, spec: SpaceSpec, r: int | None = None) -> Arch:
        return middle_mobilenet_arch(spec, r)

    def sample_archs(self, spec: SpaceSpec, n: int, rng: np.random.Generator,
                     resolutions: Sequence[int] | None = None) -> ArchBatch:
        return sample_mobilenet_archs(spec, n, rng, resolutions)

    def batch_of(self, archs: Sequence[Arch]) -> ArchBatch:
        return ArchBatch.from_archs(list(archs))

    # ---- costs, genes, encodings -----------------------------------------------------------
    def arch_costs(self, spec: SpaceSpec, arch: Arch) -> tuple[int, int]:
        return mobilenet_arch_costs(spec, arch)

    def cost_model(self, spec: SpaceSpec) -> CostModel:
        return CostModel(spec)

    def summary_stages(self, spec: SpaceSpec, arch: Arch) -> list[dict[str, Any]]:
        """Per-stage rows for `subnet show` (width, depth, kernels, expands, stride, SE, act, params, MACs)."""
        stage_params, stage_macs = (v[0] for v in cost_model(spec).stage_costs(ArchBatch.from_archs([arch])))
        stages = []
        for s, depth in enumerate(arch.d):
            slots = range(spec.slot(s, 0), spec.slot(s, 0) + depth)
            stages.append({
                "stage": s + 1,
                "width": spec.stage_widths[s],
                "depth": depth,
                "kernels": [arch.ks[i] for i in slots],
                "expands": [arch.e[i] for i in slots],
                "stride": spec.stage_strides[s],
                "se": spec.stage_se[s],
                "act": spec.stage_acts[s],
                "params": int(stage_params[s]),
                "macs": int(stage_macs[s]),
            })
        return stages

    summary_rest: str | None = None  # `subnet show --json` names what is outside the stages only where asked

    def gene_space(self, spec: SpaceSpec) -> MobileNetGenes:
        return MobileNetGenes(spec)

    def predictor_encoding(self, spec: SpaceSpec, r_start: int, r_step: int, r_buckets: int) -> OneHotEncoding:
        """Upstream `MobileNetArchEncoder`'s one-hot features on these resolution buckets."""
        return OneHotEncoding.for_space(spec, r_start, r_step, r_buckets)

    # ---- formats ---------------------------------------------------------------------------
    def is_arch_dict(self, d: dict[str, Any]) -> bool:
        """An official arch dict of this family: `ks`, `e`, `d` (and a resolution)."""
        return {"ks", "e", "d"} <= set(d)

    def official_arch_space(self, arch: Arch, spec: Any | None) -> Any:
        """The space of an official arch dict: the supernet's when given, else the released space of
        the family's kind whose gene counts it has (20 kernels: MobileNetV3 w1.2, 21: ProxylessNAS w1.3)."""
        return spec if spec is not None else space_of_genes(arch)

    def to_official_arch(self, arch: Arch) -> dict[str, Any]:
        return mobilenet_official_arch(arch)

    def read_net_config(self, cfg: dict[str, Any], image_size: int | None,
                        spec: Any | None) -> tuple[SpaceSpec, Arch, dict[str, Any]]:
        return read_mobilenet_net_config(cfg, image_size, self.name)

    def write_net_config(self, spec: SpaceSpec, arch: Arch, dropout_rate: float = 0,
                         legacy: bool = False) -> dict[str, Any]:
        return mobilenet_net_config(spec, arch, dropout_rate, legacy)

    # ---- checkpoints -----------------------------------------------------------------------
    def infer_spec(self, state: dict[str, Any]) -> SpaceSpec:
        return infer_mobilenet_spec(self.kind, state)


_FAMILIES: dict[str, MobileNetFamily] = {}


def register_kind(kind: SpaceKind) -> SpaceKind:
    """Declare a kind of the MobileNet family: its data (`space.mobilenet.kinds`) and its family object
    (registering the same kind again is a no-op)."""
    declare_kind(kind)
    if kind.name not in _FAMILIES:
        _FAMILIES[kind.name] = MobileNetFamily(kind)
        register_family(_FAMILIES[kind.name])
    return kind


for _kind in kinds():  # OFA_MBV3, OFA_PROXYLESS (declared in space.mobilenet.kinds)
    register_kind(_kind)
MBV3_FAMILY = _FAMILIES[OFA_MBV3.name]
PROXYLESS_FAMILY = _FAMILIES[OFA_PROXYLESS.name]

__all__ = ["MBV3_FAMILY", "PROXYLESS_FAMILY", "MobileNetFamily", "register_kind"]
