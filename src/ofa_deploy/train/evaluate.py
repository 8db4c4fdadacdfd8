"""Top-1 accuracy of a subnet: extract, recalibrate BN on validation images, evaluate."""

from __future__ import annotations

import torch
from torch import nn

from ..data.batches import eval_batches
from ..data.datasets import ArraySplit, Splits
from ..space import Arch
from .bn import recalibrate_bn


@torch.no_grad()
def top1(model: nn.Module, split: ArraySplit, splits: Splits, r: int, limit: int | None = None,
         batch_size: int = 500) -> float:
    model.eval()
    correct = total = 0
    for x, y in eval_batches(split, splits, r, batch_size, limit):
        correct += (model(x).argmax(1) == y).sum().item()
        total += len(y)
    return 100.0 * correct / max(total, 1)


def calibrated_subnet(supernet, arch: Arch, splits: Splits, bn_images: int = 2000) -> nn.Module:
    """Extract `arch` and recalibrate its BN on the first `bn_images` validation images at arch.r."""
    sub = supernet.extract(arch).to(memory_format=torch.channels_last)
    recalibrate_bn(sub, (x for x, _ in eval_batches(splits.val, splits, arch.r, 250, bn_images)))
    return sub.eval()


def evaluate_arch(supernet, arch: Arch, splits: Splits, split: str = "test", bn_images: int = 2000,
                  limit: int | None = None) -> float:
    sub = calibrated_subnet(supernet, arch, splits, bn_images)
    return top1(sub, getattr(splits, split), splits, arch.r, limit)
