"""Latency lookup tables for OFA MobileNetV3 spaces (Cai et al., ICLR 2020): keys, tables, prediction.

Torch-free on purpose: `search` imports this package in its hot loop. Measuring (which needs
onnxruntime / torch) lives in `latency.protocol` (stdlib only), `latency.export_blocks` and
`ofa_deploy.devices`.
"""

from .blocks import arch_keys, resolution_keys, space_keys
from .mobilenet_keys import ResolutionKeys, block_key, layer_key
from .table import (
    COLUMNS,
    LatencyTable,
    Row,
    RowWriter,
    apply_calibration,
    default_table_dir,
    export_official,
    import_official,
    profile_command,
    space_tag,
)

__all__ = [
    "COLUMNS", "LatencyTable", "ResolutionKeys", "Row", "RowWriter", "apply_calibration", "arch_keys",
    "block_key", "default_table_dir", "export_official", "import_official", "layer_key", "profile_command",
    "resolution_keys", "space_keys", "space_tag",
]
