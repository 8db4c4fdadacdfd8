"""`ofa_resnet50` as a `SpaceFamily` (`space.family`): the one object the generic code asks
about ResNet50 spaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ...errors import SpaceError
from ..family import register_family
from .costs import (
    ResNet50CostModel,
    ResNetBatch,
    resnet_arch_costs,
    resnet_cost_model,
    resnet_stage_summary,
    sample_resnet_archs,
)
from .encoding import ResNetOneHotEncoding
from .formats import from_net_config, infer_resnet_spec_from_state, to_net_config
from .spec import (
    KIND,
    ResNet50Spec,
    ResNetArch,
    largest_resnet_arch,
    middle_resnet_arch,
    official_resnet50_space,
    smallest_resnet_arch,
)


class ResNet50Family:
    """The `ofa_resnet50` family: ResNet50 is not built from the MobileNet family's parts (stem
    conv, MBConv stages, 1x1 head convs), so it implements `SpaceFamily` with its own spec, arch,
    formats, costs, genes and encodings (this package); its supernet is `nn.resnet50` and its
    table keys `latency.resnet50_keys`, both registered under `structure`."""

    structure = "resnet50"

    name = KIND
    title = "OFA-ResNet50"
    net_name = "ResNets"
    tag_prefix = "resnet50"
    module_names = frozenset({"input_stem", "blocks", "classifier"})
    arch_keys = frozenset({"d", "e", "w"})
    mmrazor = None  # MMRazor publishes no ResNet50 subnet files
    released_names: tuple[str, ...] = ()  # `search --supernet` names none (give the checkpoint)

    def __repr__(self) -> str:
        return f"ResNet50Family({self.name!r})"

    def tag(self, spec: ResNet50Spec) -> str:
        """Short folder name of a space (latency tables), e.g. `resnet50_c1000` or
        `resnet50_s16-32-48-64_c10` (defaults omitted)."""
        ref = ResNet50Spec()
        parts = [self.tag_prefix]
        if spec.stage_base_widths != ref.stage_base_widths:
            parts.append("s" + "-".join(map(str, spec.stage_base_widths)))
        parts.append(f"c{spec.n_classes}")
        if spec.in_channels != 3:
            parts.append(f"in{spec.in_channels}")
        for name, short in (("depth_list", "d"), ("expand_list", "e"), ("width_mult_list", "w")):
            if getattr(spec, name) != getattr(ref, name):
                parts.append(short + "-".join(f"{v:g}" for v in getattr(spec, name)))
        return "_".join(parts)

    def sample_archs(self, spec: ResNet50Spec, n: int, rng: np.random.Generator,
                     resolutions: Sequence[int] | None = None) -> ResNetBatch:
        return sample_resnet_archs(spec, n, rng, resolutions)

    def largest_arch(self, spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
        return largest_resnet_arch(spec, r)

    def smallest_arch(self, spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
        return smallest_resnet_arch(spec, r)

    def middle_arch(self, spec: ResNet50Spec, r: int | None = None) -> ResNetArch:
        return middle_resnet_arch(spec, r)

    def official_space(self, width_mult: float | None = None, n_classes: int = 1000) -> ResNet50Spec:
        """The released space (ResNet50 has no width multiplier: `width_mult` is not one of its lists)."""
        return official_resnet50_space(n_classes)

    def released_space(self, name: str) -> ResNet50Spec:
        raise SpaceError(f"{self.title} has no released space names; give its checkpoint")

    def table_space(self, width_mult: float | None, n_classes: int, in_channels: int,
                    expand_list: tuple[int, ...] | None) -> ResNet50Spec:
        if width_mult is not None or expand_list is not None:
            raise SpaceError(f"--width and --expands describe the MobileNet kinds; {self.title} tables use the "
                             "released space's own lists: leave them out")
        return replace(official_resnet50_space(n_classes), in_channels=in_channels)

    def profile_options(self, spec: ResNet50Spec) -> str:
        return " --supernet SUPERNET.pt"  # such a space is profiled from its checkpoint

    def batch_of(self, archs: Sequence[ResNetArch]) -> ResNetBatch:
        return ResNetBatch.from_archs(list(archs))

    def spec_from_dict(self, d: dict[str, Any]) -> ResNet50Spec:
        return ResNet50Spec.from_dict(d)

    def arch_from_dict(self, d: dict[str, Any]) -> ResNetArch:
        return ResNetArch.from_dict(d)

    def is_arch_dict(self, d: dict[str, Any]) -> bool:
        """An official ResNet50 arch dict: `d`, `e`, `w` (and no MobileNet `ks`)."""
        return self.arch_keys <= set(d) and "ks" not in d

    def official_arch_space(self, arch: ResNetArch, spec: Any | None) -> ResNet50Spec:
        """The supernet's space when it is a ResNet50 one, else the released space."""
        return spec if spec is not None and spec.kind == self.name else official_resnet50_space()

    def to_official_arch(self, arch: ResNetArch) -> dict[str, Any]:
        return arch.to_official()

    def read_net_config(self, cfg: dict[str, Any], image_size: int | None = None,
                        spec: ResNet50Spec | None = None) -> tuple[ResNet50Spec, ResNetArch, dict[str, Any]]:
        spec, arch = from_net_config(cfg, spec, image_size)
        return spec, arch, {}

    def write_net_config(self, spec: ResNet50Spec, arch: ResNetArch, dropout_rate: float = 0,
                         legacy: bool = False) -> dict[str, Any]:
        """The official `ResNets` net.config (it has one naming only: `legacy` changes nothing)."""
        return to_net_config(spec, arch, dropout_rate)

    def infer_spec(self, state: dict[str, Any]) -> ResNet50Spec:
        return infer_resnet_spec_from_state(state)

    def arch_costs(self, spec: ResNet50Spec, arch: ResNetArch) -> tuple[int, int]:
        return resnet_arch_costs(spec, arch)

    def cost_model(self, spec: ResNet50Spec) -> ResNet50CostModel:
        return resnet_cost_model(spec)

    def summary_stages(self, spec: ResNet50Spec, arch: ResNetArch) -> list[dict[str, Any]]:
        """Per-stage rows for `subnet show` (width, depth, expands, stride, params, MACs)."""
        return resnet_stage_summary(spec, arch)

    summary_rest = "input stem, max pooling and classifier"  # what `subnet show` counts outside the stages

    def gene_space(self, spec: ResNet50Spec) -> Any:
        """The search genes (`space.genes` interface): d, e, w as integer choice indices."""
        from .genes import ResNetGenes

        return ResNetGenes(spec)

    def predictor_encoding(self, spec: ResNet50Spec, r_start: int, r_step: int, r_buckets: int) -> Any:
        """The accuracy predictor's encoding (upstream `ResNetArchEncoder`) on these resolution buckets."""
        return ResNetOneHotEncoding.for_space(spec, r_start, r_step, r_buckets)

    encodings: tuple[type, ...] = (ResNetOneHotEncoding,)  # predictor-file encodings of this kind (by `kind`)


RESNET50_FAMILY = ResNet50Family()
RESNET50_KIND = RESNET50_FAMILY  # the name it had as an entry of the registry of kinds


def register() -> None:
    """Add `ofa_resnet50` to the registry of families (idempotent; done when `ofa_deploy.space` loads)."""
    register_family(RESNET50_FAMILY)
