"""The search space as plain data: `SpaceSpec`, `Arch`, file formats, costs, batch encodings.

Imports numpy and yaml only (no torch): the search and latency code build on it.
"""

from .arch import largest_arch, middle_arch, middle_choice, smallest_arch
from .costs import arch_costs, cost_model
from .encoding import sample_archs
from .family import (
    FamilyArch,
    FamilyBatch,
    FamilySpec,
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
from .mobilenet import (  # the MobileNet family's classes, named by the public API (`ofa_deploy.space`)
    OFA_MBV3,
    OFA_PROXYLESS,
    OFFICIAL_RESOLUTIONS,
    Arch,
    ArchBatch,
    CostModel,
    HeadConv,
    MobileNetFamily,
    SpaceKind,
    SpaceSpec,
    active_mask,
    get_kind,
    kind_of_net,
    kinds,
    register_kind,
    value_index,
)
from .resnet50 import RESNET50_FAMILY, RESNET50_KIND, ResNet50Spec, ResNetArch
from .resnet50 import register as _register_resnet50
from .resolutions import parse_resolutions
from .spec import (
    CHANNEL_DIVISIBLE,
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
    "FamilyArch",
    "FamilyBatch",
    "FamilySpec",
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
