"""The search space as plain data: `SpaceSpec`, `Arch`, file formats, costs, batch encodings.

Imports numpy and yaml only (no torch): the search and latency code build on it.
"""

from .arch import Arch, largest_arch, middle_arch, middle_choice, smallest_arch
from .costs import CostModel, arch_costs, cost_model
from .encoding import ArchBatch, active_mask, sample_archs, value_index
from .family import (
    SpaceFamily,
    families,
    family_of,
    family_of_net,
    family_part,
    get_family,
    register_family,
    spec_from_dict,
)
from .formats import FORMATS, Subnet, dump_subnet, load_subnet, parse_subnet, save_subnet
from .kinds import OFA_MBV3, OFA_PROXYLESS, HeadConv, SpaceKind, get_kind, kind_of_net, kinds
from .mobilenet import MobileNetFamily, register_kind
from .resnet50 import RESNET50_FAMILY, RESNET50_KIND, ResNet50Spec, ResNetArch
from .resnet50 import register as _register_resnet50
from .resolutions import parse_resolutions
from .spec import (
    CHANNEL_DIVISIBLE,
    OFFICIAL_RESOLUTIONS,
    SpaceSpec,
    conv_out_size,
    make_divisible,
    middle_channels,
    official_space,
    official_table_space,
    se_channels,
)

_register_resnet50()  # the ResNet50 family lives in its own package (its own spec and arch classes)

__all__ = [
    "CHANNEL_DIVISIBLE",
    "FORMATS",
    "OFA_MBV3",
    "OFA_PROXYLESS",
    "OFFICIAL_RESOLUTIONS",
    "RESNET50_FAMILY",
    "RESNET50_KIND",
    "Arch",
    "ArchBatch",
    "CostModel",
    "HeadConv",
    "MobileNetFamily",
    "ResNet50Spec",
    "ResNetArch",
    "SpaceFamily",
    "SpaceKind",
    "SpaceSpec",
    "Subnet",
    "active_mask",
    "arch_costs",
    "conv_out_size",
    "cost_model",
    "dump_subnet",
    "families",
    "family_of",
    "family_of_net",
    "family_part",
    "get_family",
    "get_kind",
    "kind_of_net",
    "kinds",
    "largest_arch",
    "load_subnet",
    "make_divisible",
    "middle_arch",
    "middle_channels",
    "middle_choice",
    "official_space",
    "official_table_space",
    "parse_resolutions",
    "parse_subnet",
    "register_family",
    "register_kind",
    "sample_archs",
    "save_subnet",
    "se_channels",
    "smallest_arch",
    "spec_from_dict",
    "value_index",
]
