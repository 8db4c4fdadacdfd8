"""The OFA ResNet50 search space (Cai et al., "Once for All", ICLR 2020; ResNet-D stem of He et al.,
"Bag of Tricks", 2019), as plain data: spec, arch, official formats, closed-form costs, encodings.

Why a package of its own: the space shares nothing structural with MobileNetV3 (no kernel choice;
elastic *width* per stage; expand ratios relative to the block's *output* width; an input stem whose
residual conv can be skipped), so it gets its own spec and arch instead of flags in `SpaceSpec`.
Every width, stride and block count is derived once here, exactly as the official
`OFAResNets.__init__` derives them, and read by the supernet (`nn.resnet50`), the costs and the
encodings below.

An arch is the official arch dict `{"d", "e", "w", "image_size"}`:
* `d`: 5 values. `d[0]` is the input-stem flag: the stem's residual 3x3 conv runs when
  `d[0] == max(depth_list)` (2) and is skipped otherwise (0), as `OFAResNets.set_active_subnet`.
  `d[1:]` are added to the base depths `[2, 2, 4, 2]` of the 4 stages.
* `e`: 18 expand ratios, one per block slot (each stage holds base + max(depth_list) slots); the
  middle width of a block is `make_divisible(round(out_channels * e), 8)`. Slots beyond a stage's
  depth carry no meaning (upstream's `feature2arch` writes 0 there): they are not validated.
* `w`: 6 indices into `width_mult_list`: the stem's first two convs, its third conv, the 4 stages.

Modules: `spec` (spec and arch), `formats` (net.config, checkpoint shapes), `costs` (batches and
closed-form params/MACs), `encoding` (predictor features), `kind` (the registry entry).
"""

from .costs import (
    ResNet50CostModel,
    ResNetBatch,
    resnet_arch_costs,
    resnet_cost_model,
    resnet_stage_summary,
    sample_resnet_archs,
)
from .encoding import ResNetEncoder
from .formats import from_net_config, infer_resnet_spec_from_state, to_net_config
from .kind import RESNET50_FAMILY, RESNET50_KIND, ResNet50Family, register
from .spec import (
    BASE_DEPTH_LIST,
    KIND,
    STAGE_STRIDES,
    STAGE_WIDTH_LIST,
    STEM_WIDTH,
    ResNet50Spec,
    ResNetArch,
    largest_resnet_arch,
    middle_resnet_arch,
    official_resnet50_space,
    smallest_resnet_arch,
)

__all__ = [
    "BASE_DEPTH_LIST",
    "KIND",
    "RESNET50_FAMILY",
    "RESNET50_KIND",
    "STAGE_STRIDES",
    "STAGE_WIDTH_LIST",
    "STEM_WIDTH",
    "ResNet50CostModel",
    "ResNet50Family",
    "ResNet50Spec",
    "ResNetArch",
    "ResNetBatch",
    "ResNetEncoder",
    "from_net_config",
    "infer_resnet_spec_from_state",
    "largest_resnet_arch",
    "middle_resnet_arch",
    "official_resnet50_space",
    "register",
    "resnet_arch_costs",
    "resnet_cost_model",
    "resnet_stage_summary",
    "sample_resnet_archs",
    "smallest_resnet_arch",
    "to_net_config",
]
