"""The supernets by family: which class a space builds and how a checkpoint's keys map onto it.

Why a registry: `nn` builds the supernet of every space family (`space.family`): the MobileNet
family's `OFASupernet` (`nn.supernet`) and ResNet50's `OFAResNet50` (`nn.resnet50`). Loading,
saving (`nn.checkpoint`, `nn.supernet_file`), extracting (`supernet.extract(arch)`) and channel
sorting (`supernet.sort_channels(stage)`, through `nn.channels`) are one code path; a family adds
its entry here, keyed by its `SpaceFamily.structure`, and nothing else in `nn` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from ..space import FamilySpec, family_part
from ..space.checkpoint import normalise_keys
from .resnet50 import OFAResNet50, normalise_resnet_keys
from .strict import strict_load
from .supernet import OFASupernet


class Supernet(Protocol):
    """The supernet of a space of any family (`OFASupernet`, `OFAResNet50`): what code outside its
    module may call (an `nn.Module`; `checkpoint_meta` is set when it was read from a file)."""

    spec: Any
    checkpoint_meta: dict[str, Any]
    def set_active(self, arch: Any) -> None: ...
    def set_max(self) -> None: ...
    def extract(self, arch: Any) -> nn.Module: ...
    def sort_channels(self, expand_stage: int = 0) -> None: ...
    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...
    def eval(self) -> Any: ...
    def to(self, *args: Any, **kwargs: Any) -> Any: ...
    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any: ...
    def state_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SupernetEntry:
    """How one family's supernet is built and loaded."""

    build: Callable[[Any], nn.Module]                                 # spec -> a freshly initialised supernet
    normalise: Callable[[dict[str, Any], set[str]], dict[str, Any]]   # checkpoint keys -> the supernet's (own keys)


SUPERNETS: dict[str, SupernetEntry] = {
    "mobilenet": SupernetEntry(OFASupernet, lambda state, own: normalise_keys(state)),
    "resnet50": SupernetEntry(OFAResNet50, normalise_resnet_keys),
}


def supernet_entry(spec: FamilySpec) -> SupernetEntry:
    return family_part(spec, SUPERNETS, "supernet")


def new_supernet(spec: FamilySpec) -> Supernet:
    """A freshly initialised supernet of a space of any family."""
    return supernet_entry(spec).build(spec)


def load_weights(model: Supernet, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load with the family's key rules and a readable report of what does not fit."""
    state = supernet_entry(model.spec).normalise(state, set(model.state_dict()))
    strict_load(model, state, source, model.spec.describe())


__all__ = ["SUPERNETS", "Supernet", "SupernetEntry", "load_weights", "new_supernet", "supernet_entry"]
