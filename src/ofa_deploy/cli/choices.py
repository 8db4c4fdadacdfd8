"""The choices of options, as Enums (Typer lists them in --help and refuses anything else, exit 2).

Why literal tuples here: the library's own tuples (`export.targets.FORMATS`,
`train.recipe.SCRATCH_SUBNETS`, `data.datasets.DATASET_KINDS`) live in modules that import torch,
and the CLI must start without it; `tests/test_cli.py` checks each tuple here equals the
library's, so there is still one source of truth. `space.FORMATS` is torch-free and used directly.
"""

from __future__ import annotations

from ..space import FORMATS as SUBNET_FORMATS
from ..space import families
from .common import choices

EXPORT_FORMATS = ("onnx", "tflite")
SCRATCH_SUBNETS = ("largest", "middle", "smallest")
DATASET_KINDS = ("fashion-mnist", "imagenet", "folder", "synthetic")
PROFILE_STATS = ("median", "p10", "mean")  # what a measured table may predict with (LatencyTable.STATS)
OFFICIAL_STATS = ("mean", "median")  # what `lut export` may write as the official 'mean'
PROFILE_METHODS = ("isolated", "fit", "profiler")  # how `profile` makes rows (LatencyTable.METHODS)

ExportFormat = choices("ExportFormat", EXPORT_FORMATS)
SubnetFormat = choices("SubnetFormat", SUBNET_FORMATS)
ScratchSubnet = choices("ScratchSubnet", SCRATCH_SUBNETS)
DatasetKind = choices("DatasetKind", DATASET_KINDS)
ProfileStat = choices("ProfileStat", PROFILE_STATS)
OfficialStat = choices("OfficialStat", OFFICIAL_STATS)
SPACE_KINDS = tuple(k.name for k in families())  # the registry's (space.family), torch-free
SpaceKindChoice = choices("SpaceKindChoice", SPACE_KINDS)
ProfileMethod = choices("ProfileMethod", PROFILE_METHODS)
