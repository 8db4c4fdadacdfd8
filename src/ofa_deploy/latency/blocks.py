"""Latency-table keys of a space of any family: each family's `KeyScheme`, by its `structure`.

OFA (Cai et al., ICLR 2020) predicts a subnet's latency as the sum of per-layer entries of a lookup
table whose keys describe a layer by its shapes. How a family names its layers, which archs cover
every key and how a table's rows become a dense predictor is its `KeyScheme`: the MobileNet
family's in `latency.mobilenet_keys` (the official key strings), ResNet50's in
`latency.resnet50_keys`. Generic code calls `resolution_keys`, `arch_keys` and `key_scheme` here.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..space import FamilyArch, FamilySpec, family_part
from .mobilenet_keys import MOBILENET_KEYS
from .resnet50_keys import RESNET50_KEYS


class KeyScheme(Protocol):
    """How one space family names its table keys and predicts from a table (`space.family`'s
    `structure` picks it: `SCHEMES`). The MobileNet family's is in `latency.mobilenet_keys`,
    ResNet50's in `latency.resnet50_keys`."""

    def resolution_keys(self, spec: Any, r: int) -> Any: ...             # has `.distinct()`: every key at `r`
    def arch_keys(self, spec: Any, arch: Any) -> list[str]: ...          # one subnet's, in module order
    def covering_archs(self, spec: Any, r: int) -> list[Any]: ...        # archs holding every key at `r`
    def dense(self, table: Any) -> Any: ...                              # `.block_sum(table, batch)`


def key_scheme(spec: FamilySpec) -> KeyScheme:
    """The key scheme of a space's family."""
    return family_part(spec, SCHEMES, "latency-table key scheme")


def resolution_keys(spec: FamilySpec, r: int) -> Any:
    """All keys a subnet of `spec` at resolution `r` may query (`.distinct()`: each once)."""
    return key_scheme(spec).resolution_keys(spec, int(r))


def arch_keys(spec: FamilySpec, arch: FamilyArch) -> list[str]:
    """The keys of one subnet, in module order (repeats kept: one per layer)."""
    return key_scheme(spec).arch_keys(spec, arch)


def space_keys(spec: FamilySpec, resolutions: tuple[int, ...] | list[int] | None = None) -> dict[int, list[str]]:
    """Distinct keys of the space at each resolution (default: the space's resolutions)."""
    rs = spec.resolutions if resolutions is None else resolutions
    return {int(r): resolution_keys(spec, int(r)).distinct() for r in rs}


SCHEMES: dict[str, KeyScheme] = {"mobilenet": MOBILENET_KEYS, "resnet50": RESNET50_KEYS}

__all__ = ["SCHEMES", "KeyScheme", "arch_keys", "key_scheme", "resolution_keys", "space_keys"]
