"""`SpaceFamily`: what every family of OFA search spaces provides, and the registry of families.

Why a protocol: ofa-deploy runs two families of supernets that share no structure (the MobileNet
family: MobileNetV3 and ProxylessNAS, declared as data in `space.mobilenet.kinds`; ResNet50, in
`space.resnet50`). The generic readers (space dicts, subnet files, net.config, arch dicts,
checkpoints, costs, encodings, the search genes) never test which family a space is: they look
the family up by the space's `kind` (`family_of(spec)`) and call it. Adding a family is writing
one object that satisfies `SpaceFamily` and calling `register_family`; `nn` (supernets) and
`latency` (table keys) keep their own registries, keyed by the family's `structure`, because
`space` never imports them.

This module imports nothing of the families (they import it), so it closes no import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import SpaceError
from .registry import Registry

T = TypeVar("T")


class FamilySpec(Protocol):
    """A space of any family (`SpaceSpec`, `ResNet50Spec`): what generic code may read of it. Every
    family's spec is a frozen dataclass (`dataclasses.replace(spec, resolutions=...)` gives the same
    space at other resolutions) and hashable (cost models are cached per space)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def kind(self) -> str: ...
    @property
    def resolutions(self) -> tuple[int, ...]: ...
    @property
    def n_classes(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def expand_list(self) -> tuple[float, ...]: ...   # expand ratios (`sort_channels` stages)
    @property
    def family(self) -> SpaceFamily: ...
    def __hash__(self) -> int: ...
    def to_dict(self) -> dict[str, Any]: ...
    def describe(self) -> str: ...
    def same_space(self, other: Any) -> bool: ...


class FamilyArch(Protocol):
    """A subnet of any family (`Arch`, `ResNetArch`): what generic code may read of it."""

    @property
    def r(self) -> int: ...
    def validate(self, spec: Any, check_resolution: bool = True) -> Any: ...
    def canonical(self, spec: Any) -> Any: ...
    def with_resolution(self, r: int) -> Any: ...
    def to_dict(self) -> dict[str, Any]: ...
    def short(self) -> str: ...


class FamilyBatch(Protocol):
    """Many subnets of one family as arrays (`ArchBatch`, `ResNetBatch`): `r` (N,) and the rows."""

    r: np.ndarray
    def __len__(self) -> int: ...
    def __getitem__(self, idx: Any) -> Any: ...
    def to_archs(self) -> list[Any]: ...


class FamilyEncoding(Protocol):
    """An accuracy-predictor encoding of any family (`OneHotEncoding`, `ResNetOneHotEncoding`):
    features of a batch, or of search genes, on resolution buckets (`space.buckets`)."""

    kind: str                      # its name in predictor files
    layout: str                    # what its features are, for `predictor show`
    @property
    def n_features(self) -> int: ...
    def covers(self, r: int) -> bool: ...
    def resolutions(self) -> tuple[int, ...]: ...
    def bucket(self, r: np.ndarray) -> np.ndarray: ...
    def check_space(self, spec: Any) -> None: ...
    def encode(self, batch: Any, dtype: Any = ...) -> np.ndarray: ...
    def encode_genes(self, genes: Any, x: np.ndarray, mask: np.ndarray, bucket: np.ndarray) -> np.ndarray: ...
    def to_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class SpaceFamily(Protocol):
    """One kind of space (`kind` in files), with everything the generic code asks of it.

    Specs, archs and batches are the family's own classes (`SpaceSpec` / `Arch` / `ArchBatch` for
    the MobileNet family, `ResNet50Spec` / `ResNetArch` / `ResNetBatch` for ResNet50); what generic
    code reads of them is `FamilySpec`, `FamilyArch` and `FamilyBatch` (annotate with these where a
    space of any family may come; the protocol's own methods take `Any`, each family its own class).
    """

    name: str                      # `kind` in space dicts and files: "ofa_mbv3"
    title: str                     # for messages: "OFA-MobileNetV3"
    net_name: str                  # official net.config `name`: "MobileNetV3"
    tag_prefix: str                # prefix of latency-table folder names
    structure: str                 # key of the family's supernet (`nn.registry`) and table keys (`latency.schemes`)
    module_names: frozenset[str]   # top-level modules of its supernet's state dict (checkpoint recognition)
    mmrazor: Any                   # its MMRazor subnet format (`read(d, n_classes)`, `write(spec, arch)`), or None
    encodings: tuple[type, ...]    # predictor-file encoding classes of this kind (by their `kind`)

    released_names: tuple[str, ...]  # names of released supernets' spaces (`search --supernet NAME`)

    @property
    def summary_rest(self) -> str | None: ...   # what `subnet show` counts outside the stages (None: not named)

    # ---- spaces ---------------------------------------------------------------------------
    def spec_from_dict(self, d: dict[str, Any]) -> Any: ...
    def official_space(self, width_mult: float | None = None, n_classes: int = 1000) -> Any: ...
    def released_space(self, name: str) -> Any: ...   # the space one of `released_names` names
    def table_space(self, width_mult: float | None, n_classes: int, in_channels: int,
                    expand_list: tuple[int, ...] | None) -> Any: ...
    def tag(self, spec: Any) -> str: ...
    def profile_options(self, spec: Any) -> str: ...

    # ---- archs ----------------------------------------------------------------------------
    def arch_from_dict(self, d: dict[str, Any]) -> Any: ...
    def largest_arch(self, spec: Any, r: int | None = None) -> Any: ...
    def smallest_arch(self, spec: Any, r: int | None = None) -> Any: ...
    def middle_arch(self, spec: Any, r: int | None = None) -> Any: ...
    def sample_archs(self, spec: Any, n: int, rng: np.random.Generator,
                     resolutions: Sequence[int] | None = None) -> Any: ...
    def batch_of(self, archs: Sequence[Any]) -> Any: ...

    # ---- costs, genes, encodings -----------------------------------------------------------
    def arch_costs(self, spec: Any, arch: Any) -> tuple[int, int]: ...
    def cost_model(self, spec: Any) -> Any: ...
    def summary_stages(self, spec: Any, arch: Any) -> list[dict[str, Any]]: ...
    def gene_space(self, spec: Any) -> Any: ...
    def predictor_encoding(self, spec: Any, r_start: int, r_step: int, r_buckets: int) -> FamilyEncoding: ...

    # ---- formats ---------------------------------------------------------------------------
    def is_arch_dict(self, d: dict[str, Any]) -> bool: ...
    def official_arch_space(self, arch: Any, spec: Any | None) -> Any: ...
    def to_official_arch(self, arch: Any) -> dict[str, Any]: ...
    def read_net_config(self, cfg: dict[str, Any], image_size: int | None,
                        spec: Any | None) -> tuple[Any, Any, dict[str, Any]]: ...
    def write_net_config(self, spec: Any, arch: Any, dropout_rate: float = 0, legacy: bool = False) -> dict[str, Any]: ...

    # ---- checkpoints -----------------------------------------------------------------------
    def infer_spec(self, state: dict[str, Any]) -> Any: ...


_FAMILIES: Registry[SpaceFamily] = Registry()


def register_family(family: SpaceFamily) -> SpaceFamily:
    """Add a family to the registry (its `name` is what space dicts' `kind` field says)."""
    return _FAMILIES.register(family)


def get_family(name: str) -> SpaceFamily:
    return _FAMILIES.get(name)


def families() -> tuple[SpaceFamily, ...]:
    return _FAMILIES.all()


def family_of(spec: FamilySpec) -> SpaceFamily:
    """The family of a space (of any family's spec class), by its `kind`."""
    return _FAMILIES.get(spec.kind)


def family_part(spec: FamilySpec, parts: Mapping[str, T], what: str) -> T:
    """A layer's part for the family of `spec` (its supernet in `nn`, its key scheme in `latency`),
    from `parts` keyed by the family's `structure`; one `SpaceError` line when none is registered."""
    family = family_of(spec)
    try:
        return parts[family.structure]
    except KeyError:
        raise SpaceError(f"no {what} is registered for {family.title} spaces ({family.structure!r})") from None


def released_spaces() -> dict[str, SpaceFamily]:
    """Every family's released space names (`released_names`), each with its family."""
    return {name: f for f in _FAMILIES.all() for name in f.released_names}


def family_of_net(net_name: str) -> SpaceFamily | None:
    """The family whose official net.config `name` is `net_name` (None when no family has it)."""
    return _FAMILIES.find(lambda f: f.net_name == net_name)


def spec_from_dict(d: Any) -> FamilySpec:
    """A space dict (`kind` absent: `ofa_mbv3`) read by its family."""
    if not isinstance(d, dict):
        raise SpaceError(f"a space must be a mapping, got {type(d).__name__}")
    kind = d.get("kind", "ofa_mbv3")
    if not isinstance(kind, str):
        raise SpaceError(f"space kind must be a name, got {kind!r}")
    return get_family(kind).spec_from_dict(d)


__all__ = ["FamilyArch", "FamilyBatch", "FamilyEncoding", "FamilySpec", "SpaceFamily", "families", "family_of", "family_of_net", "family_part", "get_family", "register_family", "released_spaces", "spec_from_dict"]
