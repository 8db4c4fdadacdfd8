"""The fine-tuned subnet checkpoint (`ofa-deploy finetune`'s output): a static subnet with its space and arch.

Format: `{"format": "ofa-deploy-subnet", "version": 1, "spec": {...}, "arch": {...}, "state_dict": ...,
"meta": {...}}`, written atomically with `torch.save`, read back with torch's weights-only unpickler
(plain containers and tensors only). The module is rebuilt from space + arch (the supernet of that
space, extracted, then the state loaded strictly), so the file needs no code of its own. `export`
takes it where it takes a supernet (`load_weights_source`): its BN statistics were trained with the
weights, so it is exported as it is, never recalibrated.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, OfaDeployError, SpaceError
from ..fsio import atomic_path
from ..space import FamilySpec, spec_from_dict
from ..space.checkpoint import SUBNET_FORMAT
from ..torchio import read_checkpoint, safe_torch_load
from .checkpoint import load_supernet, new_supernet
from .strict import strict_load


class FineTunedSubnet:
    """A loaded fine-tuned checkpoint, shaped like a supernet for the export pipeline: `spec`,
    `checkpoint_meta`, and `extract(arch)` for its own arch only."""

    def __init__(self, spec: FamilySpec, arch: Any, module: nn.Module, meta: dict[str, Any], path: Path):
        self.spec, self.arch, self.module, self.checkpoint_meta, self.path = spec, arch, module, meta, path

    def same_arch(self, arch: Any) -> bool:
        return arch.to_dict() == self.arch.to_dict()

    def check_arch(self, arch: Any, subnet_path: str | os.PathLike) -> None:
        if not self.same_arch(arch):
            raise SpaceError(f"{self.path} holds the fine-tuned subnet {self.arch.short()}, not the subnet of "
                             f"{subnet_path} ({arch.short()}); give that subnet file (--subnet) or --supernet to "
                             "cut it from the supernet")

    def extract(self, arch: Any) -> nn.Module:
        self.check_arch(arch, "the subnet asked for")
        return copy.deepcopy(self.module).eval()


def save_finetuned(module: nn.Module, spec: FamilySpec, arch: Any, path: str | os.PathLike,
                   meta: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint atomically (full precision, NCHW tensors)."""
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    p = Path(path)
    with atomic_path(p) as tmp:
        torch.save({"format": SUBNET_FORMAT, "version": 1, "spec": spec.to_dict(), "arch": arch.to_dict(),
                    "state_dict": state, "meta": meta or {}}, tmp)
    return p


def is_finetuned(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == SUBNET_FORMAT


def subnet_module(spec: FamilySpec, arch: Any) -> nn.Module:
    """A static subnet of that arch with freshly initialised weights (the supernet's init, extracted)."""
    return new_supernet(spec).extract(arch)


def from_object(obj: dict[str, Any], path: str | os.PathLike) -> FineTunedSubnet:
    from ..space.formats import arch_of_space

    if obj.get("version", 1) != 1:
        raise CheckpointError(f"{path}: fine-tuned subnet version {obj.get('version')} is newer than this "
                              "ofa-deploy understands (1)")
    try:
        spec = spec_from_dict(obj.get("spec"))
        arch = arch_of_space(spec, obj.get("arch"))
        arch.validate(spec, check_resolution=False)
    except (OfaDeployError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: corrupt space or arch in the fine-tuned subnet ({e})") from None
    state = obj.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no state_dict of tensors in the fine-tuned subnet")
    module = subnet_module(spec, arch)
    strict_load(module, state, str(path), f"subnet {arch.short()} of {spec.describe()}")
    meta = obj.get("meta")
    return FineTunedSubnet(spec, arch, module.eval(), dict(meta) if isinstance(meta, dict) else {}, Path(path))


def load_finetuned(path: str | os.PathLike) -> FineTunedSubnet:
    obj = safe_torch_load(path, "fine-tuned subnet", "give a file written by `ofa-deploy finetune`")
    if not is_finetuned(obj):
        raise CheckpointError(f"{path} is not a fine-tuned subnet (written by `ofa-deploy finetune`)")
    return from_object(obj, path)


def load_weights_source(path: str | os.PathLike) -> Any:
    """A supernet (ours or official) or a fine-tuned subnet checkpoint: what `export` cuts its subnet from."""
    obj = read_checkpoint(path)
    if is_finetuned(obj):
        return from_object(obj, path)
    return load_supernet(path)


__all__ = ["SUBNET_FORMAT", "FineTunedSubnet", "is_finetuned", "load_finetuned", "load_weights_source",
           "save_finetuned", "subnet_module"]
