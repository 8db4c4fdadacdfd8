"""BN recalibration (upstream `set_running_statistics`): every evaluation of a subnet uses it.

A subnet's BN statistics are not those of the supernet it was sliced from. Reset them and
forward training images in train mode with `momentum=None` (a cumulative average): with the
default momentum 0.1 a short recalibration leaves a large share of the old statistics in place.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor | tuple]) -> nn.Module:
    """Recompute every BatchNorm's running statistics from `batches` (images, or (images, labels))."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.training) for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    seen = 0
    for batch in batches:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        model(x)
        seen += len(x)
    if seen == 0:
        raise ValueError("BN recalibration needs at least one batch of images")
    for m, (momentum, _) in zip(bns, saved):
        m.momentum = momentum
    model.train(was_training)
    return model
