"""BN recalibration with upstream `set_running_statistics` semantics: every evaluation of a subnet uses it.

A subnet's BN statistics are not those of the supernet it was sliced from: forward calibration
images in train mode (each BN normalises with its batch's own statistics, as upstream's replaced
forward does) and store, per BN, the mean over batches of the batch mean and of the *biased* batch
variance, weighted by batch size (upstream's `AverageMeter.update(value, x.size(0))`).
`torch.nn.BatchNorm2d` with `momentum=None` would store the unbiased variance and weight every batch
alike, which is not what the official numbers were made with.
Under torchrun (`distributed=True`), sums and counts are added over the processes, like upstream's
`DistributedTensor`, so every rank ends with the same statistics.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..errors import DatasetError


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor | tuple], distributed: bool = False) -> nn.Module:
    """Replace every BatchNorm's running statistics by those of `batches` (images, or (images, labels))."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    sums: dict[int, list] = {id(m): [0.0, 0.0, 0] for m in bns}  # weighted sum of means, of variances, count

    def record(module: nn.Module, inputs: tuple) -> None:
        x = inputs[0]
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            # channels_last: (N*H*W, C) is a view with contiguous channels, where reducing over the rows is
            # about twice as fast as over dims (0, 2, 3) of the 4-d tensor, with the same sums
            flat = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
            mean = flat.mean(0)
            var = (flat - mean).square_().mean(0)  # biased: mean of squared deviations
        else:
            dims = [d for d in range(x.dim()) if d != 1]
            mean = x.mean(dim=dims, keepdim=True)
            var = ((x - mean) * (x - mean)).mean(dim=dims)  # biased: mean of squared deviations
        s = sums[id(module)]
        n = x.shape[0]
        s[0] = s[0] + mean.flatten().double() * n
        s[1] = s[1] + var.double() * n
        s[2] += n

    was_training = model.training
    tracked = [m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None for m in bns]
    hooks = [m.register_forward_pre_hook(record) for m in bns]
    try:
        model.train()
        seen = 0
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            model(x)
            seen += len(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
        for m, t in zip(bns, tracked):
            if t is not None:
                m.num_batches_tracked.copy_(t)
    if seen == 0:
        raise DatasetError("BN recalibration needs at least one batch of images: the dataset gave none")
    for m in bns:
        mean_sum, var_sum, count = sums[id(m)]
        if count == 0:
            continue  # a BN this forward never reached (it keeps its statistics, as upstream)
        if distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
            packed = torch.cat([mean_sum, var_sum, torch.tensor([float(count)], dtype=torch.float64)])
            packed = packed.to(m.running_mean.device)
            torch.distributed.all_reduce(packed)
            c = mean_sum.numel()
            mean_sum, var_sum, count = packed[:c], packed[c:2 * c], packed[-1].item()
        m.running_mean.copy_((mean_sum / count).to(m.running_mean))
        m.running_var.copy_((var_sum / count).to(m.running_var))
    return model
