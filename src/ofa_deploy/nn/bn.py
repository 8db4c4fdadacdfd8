"""BN recalibration with upstream `set_running_statistics` semantics: every evaluation of a subnet uses it.

A subnet's BN statistics are not those of the supernet it was sliced from: forward calibration
images with every BN's forward replaced, as upstream does, by one that computes its batch's mean and
*biased* variance, normalises with them (`F.batch_norm` given those statistics) and records them;
then store, per BN, the mean over batches of those means and variances, weighted by batch size
(upstream's `AverageMeter.update(value, x.size(0))`).
`torch.nn.BatchNorm2d` with `momentum=None` would store the unbiased variance and weight every batch
alike, which is not what the official numbers were made with. Normalising with our own statistics
rather than letting each BN run in train mode also matters numerically: torch's CPU train-mode
kernel on channels_last tensors moved official logits by up to 1e-3 relative (golden bn0: 3.5e-4
channels_last against 4.7e-6 NCHW); this way both layouts stay within 5e-6, and a batch's
statistics are computed once, not twice (about 25 % less time).
Under torchrun (`distributed=True`), sums and counts are added over the processes, like upstream's
`DistributedTensor`, so every rank ends with the same statistics.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DatasetError


def batch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of a batch (N, C, ...), float32 as the activations."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        # channels_last: (N*H*W, C) is a view with contiguous channels, where reducing over the rows is
        # about twice as fast as over dims (0, 2, 3) of the 4-d tensor, with the same sums
        flat = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        mean = flat.mean(0)
        return mean, (flat - mean).square_().mean(0)  # biased: mean of squared deviations
    dims = [d for d in range(x.dim()) if d != 1]
    mean = x.mean(dim=dims, keepdim=True)
    return mean.flatten(), ((x - mean) * (x - mean)).mean(dim=dims)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor | tuple], distributed: bool = False) -> nn.Module:
    """Replace every BatchNorm's running statistics by those of `batches` (images, or (images, labels))."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    sums: dict[int, list] = {id(m): [0.0, 0.0, 0] for m in bns}  # weighted sum of means, of variances, count

    def calibrating_forward(module: nn.modules.batchnorm._BatchNorm):
        def forward(x: torch.Tensor) -> torch.Tensor:
            mean, var = batch_stats(x)
            s = sums[id(module)]
            n = x.shape[0]
            s[0] = s[0] + mean.double() * n
            s[1] = s[1] + var.double() * n
            s[2] += n
            return F.batch_norm(x, mean, var, module.weight, module.bias, False, 0.0, module.eps)
        return forward

    was_training = model.training
    for m in bns:
        m.forward = calibrating_forward(m)  # an instance attribute: shadows the class's forward until deleted
    try:
        model.train()  # as upstream (dropout and the like; the BNs normalise with their batch either way)
        seen = 0
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(x)
            seen += len(x)
    finally:
        for m in bns:
            del m.forward
        model.train(was_training)
    if seen == 0:
        raise DatasetError("BN recalibration needs at least one batch of images: the dataset gave none")
    for m in bns:
        mean_sum, var_sum, count = sums[id(m)]
        if count == 0:
            continue  # a BN this forward never reached (it keeps its statistics, as upstream)
        if distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
            packed = torch.cat([mean_sum, var_sum, torch.tensor([float(count)], dtype=torch.float64,
                                                                 device=mean_sum.device)])
            packed = packed.to(m.running_mean.device)
            torch.distributed.all_reduce(packed)
            c = mean_sum.numel()
            mean_sum, var_sum, count = packed[:c], packed[c:2 * c], packed[-1].item()
        m.running_mean.copy_((mean_sum / count).to(m.running_mean))
        m.running_var.copy_((var_sum / count).to(m.running_var))
    return model
