"""TFLite conversion through litert-torch (fp32); quantisation lives beside it.

litert-torch traces the module with `torch.export` and writes a flatbuffer whose input keeps the
PyTorch layout (NCHW; the converter inserts one TRANSPOSE). Imported lazily: litert-torch pulls in
TensorFlow-Lite tooling that takes seconds to load.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..errors import ExportError
from ..fsio import atomic_path


def convert_fp32(module: nn.Module, example: torch.Tensor, path: str | os.PathLike) -> Path:
    """Convert `module` (eval mode, batch of `example`'s shape) to an fp32 `.tflite` at `path`."""
    try:
        import litert_torch
    except ImportError:
        raise ExportError("TFLite export needs litert-torch: pip install 'ofa-deploy[tflite]'") from None
    path = Path(path)
    module = module.eval()
    with torch.no_grad():
        edge = litert_torch.convert(module, (example.contiguous(),))
    with atomic_path(path) as tmp:
        edge.export(str(tmp))
    return path
