"""The MobileNet family of OFA search spaces (OFA MobileNetV3, OFA ProxylessNAS), as plain data.

A kind of this family is declared as data (`kinds.SpaceKind`: widths, strides, activations, SE,
fixed depths, head convs); everything of the family reads its declaration, so a new kind of this
structure is one `register_kind` call. `kind.MobileNetFamily` wraps one kind as a
`space.family.SpaceFamily` (what the generic code calls).

Modules: `kinds` (the declared kinds), `spec` (`SpaceSpec`: every width and stride derived once),
`arch` (`Arch`: one subnet), `batch` (`ArchBatch`: many subnets as arrays, sampling), `costs`
(closed-form params/MACs), `genes` (the search's integer genes), `encoding` (the one-hot predictor
features), `netconfig`, `formats` (the official arch dict) and `mmrazor` (file formats),
`checkpoint` (a checkpoint's space from its shapes), `kind` (the family object and its registration).
"""

from .arch import Arch
from .batch import ArchBatch, active_mask, value_index
from .costs import CostModel
from .encoding import OneHotEncoding
from .genes import MobileNetGenes
from .kind import MBV3_FAMILY, PROXYLESS_FAMILY, MobileNetFamily, register_kind
from .kinds import OFA_MBV3, OFA_PROXYLESS, HeadConv, SpaceKind, get_kind, kind_of_net, kinds
from .spec import OFFICIAL_RESOLUTIONS, SpaceSpec

__all__ = [
    "MBV3_FAMILY",
    "OFA_MBV3",
    "OFA_PROXYLESS",
    "OFFICIAL_RESOLUTIONS",
    "PROXYLESS_FAMILY",
    "Arch",
    "ArchBatch",
    "CostModel",
    "HeadConv",
    "MobileNetFamily",
    "MobileNetGenes",
    "OneHotEncoding",
    "SpaceKind",
    "SpaceSpec",
    "active_mask",
    "get_kind",
    "kind_of_net",
    "kinds",
    "register_kind",
    "value_index",
]
