"""The choices of options, as Enums (Typer lists them in --help and refuses anything else, exit 2).

They come from the library's torch-free modules. `train.recipe.SCRATCH_SUBNETS` and
`data.datasets.DATASET_KINDS` live where torch is imported, and the CLI must start without it:
those two are literal here, and `tests/test_cli.py` checks that they equal the library's.
"""

from __future__ import annotations

from ..export.targets import FORMATS as EXPORT_FORMATS
from ..latency.official import OFFICIAL_STATS
from ..latency.rows import METHODS as PROFILE_METHODS
from ..latency.rows import PREDICTION_STATS
from ..space import FORMATS as SUBNET_FORMATS
from ..space import families
from .common import choices

SCRATCH_SUBNETS = ("largest", "middle", "smallest")
DATASET_KINDS = ("fashion-mnist", "imagenet", "folder", "synthetic")

ExportFormat = choices("ExportFormat", EXPORT_FORMATS)
SubnetFormat = choices("SubnetFormat", SUBNET_FORMATS)
ScratchSubnet = choices("ScratchSubnet", SCRATCH_SUBNETS)
DatasetKind = choices("DatasetKind", DATASET_KINDS)
ProfileStat = choices("ProfileStat", PREDICTION_STATS)
OfficialStat = choices("OfficialStat", OFFICIAL_STATS)
SpaceKindChoice = choices("SpaceKindChoice", tuple(k.name for k in families()))  # the registry's, torch-free
ProfileMethod = choices("ProfileMethod", PROFILE_METHODS)
