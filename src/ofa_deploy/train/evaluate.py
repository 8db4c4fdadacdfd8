"""Top-1 accuracy of a subnet: extract, recalibrate BN on the dataset's calibration images, evaluate.

`data` is any `ofa_deploy.data.source.DataSource` (an ImageNet-style folder, streamed) or `Splits`
(Fashion-MNIST / synthetic arrays, wrapped): calibration images are the source's own choice
(upstream's 2000 training images for a folder, the first held-out images for arrays).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.batches import eval_batches
from ..data.datasets import ArraySplit, Splits
from ..data.source import DataSource, as_source
from ..space import FamilyArch
from .bn import recalibrate_bn


@torch.no_grad()
def top1(model: nn.Module, split: ArraySplit, splits: Splits, r: int, limit: int | None = None,
         batch_size: int = 500) -> float:
    return _top1(model, eval_batches(split, splits, r, batch_size, limit))


@torch.no_grad()
def source_top1(model: nn.Module, data: DataSource | Splits, split: str, r: int, limit: int | None = None) -> float:
    return _top1(model, as_source(data).eval_batches(split, r, limit=limit))


def _top1(model: nn.Module, batches) -> float:
    """Top-1 (%) on the model's device (images moved there, labels compared on the CPU)."""
    model.eval()
    dev = next(model.parameters()).device
    correct = total = 0
    for x, y in batches:
        correct += (model(x.to(dev, non_blocking=True)).argmax(1).cpu() == y).sum().item()
        total += len(y)
    return 100.0 * correct / max(total, 1)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.contiguous_format)


def calibrated_subnet(supernet, arch: FamilyArch, data: DataSource | Splits, bn_images: int = 2000,
                      bn_batch: int | None = None, bn_transform: str | None = None) -> nn.Module:
    """Extract `arch` and recalibrate its BN on `bn_images` calibration images of `data` at arch.r
    (batches of `bn_batch`, `bn_transform`: the source's own defaults when None).

    NCHW (contiguous), as export computes: channels_last on CPU moves the logits by about 1e-3
    relative (another convolution algorithm), which is enough to differ from the exported model
    and from the official logits (held to 1e-4)."""
    sub = supernet.extract(arch).to(memory_format=torch.contiguous_format)
    batches = as_source(data).bn_batches(arch.r, bn_images, bn_batch, transform=bn_transform)
    recalibrate_bn(sub, (_nchw(x) for x in batches))
    return sub.eval()


def evaluate_arch(supernet, arch: FamilyArch, data: DataSource | Splits, split: str = "test", bn_images: int = 2000,
                  limit: int | None = None, bn_batch: int | None = None, bn_transform: str | None = None) -> float:
    sub = calibrated_subnet(supernet, arch, data, bn_images, bn_batch, bn_transform)
    with torch.no_grad():
        return _top1(sub, ((_nchw(x), y) for x, y in as_source(data).eval_batches(split, arch.r, limit=limit)))
