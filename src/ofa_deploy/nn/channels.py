"""Channel sorting before the elastic-width phases, once for every family: upstream's
`re_organize_middle_weights` (Cai et al., "Once for All", ICLR 2020).

A block's middle channels are ordered by the L1 importance of the weights that consume them, so
that the first `make_divisible(round(in * e), 8)` channels (what a smaller expand ratio `e` keeps)
are the most important ones. With `expand_stage > 0` the channels of each smaller expand ratio
stay a group of their own (offsets of 1e5, as upstream): sorted among themselves, never swapped
with channels only a larger ratio uses. The blocks (`nn.elastic`'s MBConv, `nn.resnet50`'s
bottleneck) apply the order to their own convs and norms.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def importance_order(consumer_weight: torch.Tensor, group_widths: Sequence[int], expand_stage: int = 0) -> torch.Tensor:
    """Indices of the consumer's input channels, most important first. `group_widths`: the middle
    widths of the expand ratios, largest first."""
    importance = torch.sum(torch.abs(consumer_weight), dim=(0, 2, 3))
    if expand_stage > 0:
        right, base = len(importance), -len(group_widths) * 1e5
        for i in range(expand_stage + 1):
            left = group_widths[i]
            importance[left:right] += base
            base += 1e5
            right = left
    _, idx = torch.sort(importance, dim=0, descending=True)
    return idx


def select_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> None:
    """Reorder a batch norm's channels (affine and running statistics)."""
    for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        t.data.copy_(torch.index_select(t.data, 0, idx))


__all__ = ["importance_order", "select_bn"]
