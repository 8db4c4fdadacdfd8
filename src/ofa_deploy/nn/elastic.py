"""Elastic layers of the OFA supernet (Cai et al., "Once for All", ICLR 2020, section 3.2).

* Elastic kernel: a kxk depthwise kernel is the centre of the 7x7 one, passed through learned
  transform matrices (7->5 then 5->3), as upstream `DynamicSeparableConv2d`.
* Elastic width: the first `make_divisible(round(in * e), 8)` middle channels are used; channel
  sorting (`sort_middle_channels`) moves the important ones first before each width phase.
* Parameter names equal the official ones (`conv.conv.weight`, `conv.7to5_matrix`, `bn.bn.*`,
  `se.fc.reduce.*`) so official checkpoints load by name.
"""

from __future__ import annotations

from collections import OrderedDict
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..space.spec import middle_channels, se_channels
from . import layers as L
from .channels import importance_order, select_bn

_TOEPLITZ_MAX_PIXELS = 36  # maps up to 6x6 go through the matrix form below
_toeplitz_index_cache: dict[tuple[int, int, int, int], torch.Tensor] = {}


def _toeplitz_index(h: int, w: int, k: int, stride: int) -> torch.Tensor:
    """[h*w, ho*wo] index into a flattened kxk kernel with one extra zero tap (index k*k) that
    stands for "this input pixel does not feed this output pixel"."""
    key = (h, w, k, stride)
    if key not in _toeplitz_index_cache:
        pad = k // 2
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        iy, ix = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        oy, ox = torch.meshgrid(torch.arange(ho), torch.arange(wo), indexing="ij")
        ty = iy.reshape(-1, 1) - stride * oy.reshape(1, -1) + pad
        tx = ix.reshape(-1, 1) - stride * ox.reshape(1, -1) + pad
        valid = (ty >= 0) & (ty < k) & (tx >= 0) & (tx < k)
        _toeplitz_index_cache[key] = torch.where(valid, ty * k + tx, k * k)
    return _toeplitz_index_cache[key]


def depthwise_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """`F.conv2d(x, weight, stride=stride, padding=k // 2, groups=C)` for the supernet.

    On small maps it is computed as one batched matrix product per channel (the conv's Toeplitz
    matrix, gathered from the kernel): the same sum of the same products, so the same result and
    gradients up to fp32 rounding, but far faster to train on CPU, where oneDNN's depthwise
    backward spends 20-40 ms on a 7x7 kernel over a 1x1 or 2x2 map (the last stages at 24-32 px).
    """
    n, c, h, w = x.shape
    k = weight.size(-1)
    if h * w > _TOEPLITZ_MAX_PIXELS:
        return F.conv2d(x, weight, None, stride, k // 2, 1, c)
    index = _toeplitz_index(h, w, k, stride)
    taps = F.pad(weight.reshape(c, k * k), (0, 1))
    matrix = taps[:, index]  # [C, h*w, ho*wo]
    out = torch.einsum("nci,cio->nco", x.reshape(n, c, h * w), matrix)
    pad = k // 2
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    return out.reshape(n, c, ho, wo).contiguous(memory_format=torch.channels_last)


def sub_filter_start_end(kernel_size: int, sub_kernel_size: int) -> tuple[int, int]:
    center = kernel_size // 2
    dev = sub_kernel_size // 2
    return center - dev, center + dev + 1


class DynamicConv2d(nn.Module):
    """1x1 conv whose active input/output channels are the first ones of the full weight."""

    def __init__(self, max_in: int, max_out: int):
        super().__init__()
        self.conv = nn.Conv2d(max_in, max_out, 1, bias=False)
        self.active_out_channel = max_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv.weight[: self.active_out_channel, : x.size(1)]
        return F.conv2d(x, w)


class DynamicSeparableConv2d(nn.Module):
    """Depthwise conv with an elastic kernel size (centre crop + transform matrices)."""

    def __init__(self, max_channels: int, ks_list: tuple[int, ...], stride: int):
        super().__init__()
        self.ks_list = tuple(sorted(set(ks_list)))
        self.stride = stride
        k = self.ks_list[-1]
        self.conv = nn.Conv2d(max_channels, max_channels, k, stride, groups=max_channels, bias=False)
        for small, large in pairwise(self.ks_list):
            self.register_parameter(f"{large}to{small}_matrix", nn.Parameter(torch.eye(small * small)))
        self.active_kernel_size = k

    def active_filter(self, channels: int, kernel_size: int) -> torch.Tensor:
        weight = self.conv.weight[:channels]
        k_max = self.ks_list[-1]
        if kernel_size == k_max:
            return weight
        filt = weight
        for i in range(len(self.ks_list) - 1, 0, -1):
            src = self.ks_list[i]
            if src <= kernel_size:
                break
            dst = self.ks_list[i - 1]
            start, end = sub_filter_start_end(src, dst)
            part = filt[:, :, start:end, start:end].reshape(-1, dst * dst)
            part = F.linear(part, getattr(self, f"{src}to{dst}_matrix"))
            filt = part.reshape(channels, 1, dst, dst)
        return filt

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.size(1)
        k = self.active_kernel_size
        return depthwise_conv(x, self.active_filter(channels, k), self.stride)


class DynamicBatchNorm2d(nn.Module):
    """BatchNorm over the first C channels of a wider BN (statistics slices updated in place)."""

    def __init__(self, max_features: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(max_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        c = x.size(1)
        if c == bn.num_features:
            return bn(x)
        factor = 0.0
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked += 1
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                            bn.training or not bn.track_running_stats, factor, bn.eps)


class DynamicSE(L.SEModule):
    """SE whose hidden width follows the active channel count: make_divisible(C // 4, 8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.size(1)
        mid = se_channels(c)
        y = x.mean(3, keepdim=True).mean(2, keepdim=True)
        red, exp = self.fc.reduce, self.fc.expand
        y = F.relu(F.conv2d(y, red.weight[:mid, :c], red.bias[:mid]))
        y = F.conv2d(y, exp.weight[:c, :mid], exp.bias[:c])
        return x * (F.relu6(y + 3.0) / 6.0)


class DynamicMBConvLayer(nn.Module):
    """Inverted residual body with elastic kernel size and expand ratio."""

    def __init__(self, cin: int, cout: int, ks_list: tuple[int, ...], expand_list: tuple[int, ...], stride: int,
                 act: str, use_se: bool):
        super().__init__()
        self.cin, self.cout, self.stride, self.act, self.use_se = cin, cout, stride, act, use_se
        self.ks_list, self.expand_list = tuple(ks_list), tuple(expand_list)
        max_mid = middle_channels(cin, max(expand_list))
        self.inverted_bottleneck = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(cin, max_mid)),
            ("bn", DynamicBatchNorm2d(max_mid)),
            ("act", L.activation(act)),
        ]))
        dw: list[tuple[str, nn.Module]] = [
            ("conv", DynamicSeparableConv2d(max_mid, ks_list, stride)),
            ("bn", DynamicBatchNorm2d(max_mid)),
            ("act", L.activation(act)),
        ]
        if use_se:
            dw.append(("se", DynamicSE(max_mid)))
        self.depth_conv = nn.Sequential(OrderedDict(dw))
        self.point_linear = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(max_mid, cout)),
            ("bn", DynamicBatchNorm2d(cout)),
        ]))
        self.active_kernel_size = max(ks_list)
        self.active_expand_ratio = max(expand_list)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inverted_bottleneck.conv.active_out_channel = middle_channels(x.size(1), self.active_expand_ratio)
        self.depth_conv.conv.active_kernel_size = self.active_kernel_size
        return self.point_linear(self.depth_conv(self.inverted_bottleneck(x)))

    @torch.no_grad()
    def extract(self, kernel_size: int, expand_ratio: int) -> L.MBConvLayer:
        """A static `MBConvLayer` with the active weights copied (what gets exported)."""
        mid = middle_channels(self.cin, expand_ratio)
        out = L.MBConvLayer(self.cin, self.cout, kernel_size, self.stride, mid, self.act, self.use_se)
        ib = self.inverted_bottleneck
        out.inverted_bottleneck.conv.weight.copy_(ib.conv.conv.weight[:mid])
        copy_bn(out.inverted_bottleneck.bn, ib.bn.bn)
        out.depth_conv.conv.weight.copy_(self.depth_conv.conv.active_filter(mid, kernel_size))
        copy_bn(out.depth_conv.bn, self.depth_conv.bn.bn)
        if self.use_se:
            se_mid = se_channels(mid)
            src, dst = self.depth_conv.se.fc, out.depth_conv.se.fc
            dst.reduce.weight.copy_(src.reduce.weight[:se_mid, :mid])
            dst.reduce.bias.copy_(src.reduce.bias[:se_mid])
            dst.expand.weight.copy_(src.expand.weight[:mid, :se_mid])
            dst.expand.bias.copy_(src.expand.bias[:mid])
        out.point_linear.conv.weight.copy_(self.point_linear.conv.conv.weight[:, :mid])
        copy_bn(out.point_linear.bn, self.point_linear.bn.bn)
        return out

    @torch.no_grad()
    def sort_middle_channels(self, expand_stage: int = 0) -> None:
        """Reorder middle channels by importance (L1 norm of the projection weights), keeping the
        channels of each smaller expand ratio in its own group (upstream `re_organize_middle_weights`)."""
        pl_w = self.point_linear.conv.conv.weight
        widths = [middle_channels(self.cin, e) for e in sorted(self.expand_list, reverse=True)]
        idx = importance_order(pl_w, widths, expand_stage)
        pl_w.copy_(torch.index_select(pl_w, 1, idx))
        select_bn(self.depth_conv.bn.bn, idx)
        dw_w = self.depth_conv.conv.conv.weight
        dw_w.copy_(torch.index_select(dw_w, 0, idx))
        if self.use_se:
            fc = self.depth_conv.se.fc
            fc.expand.weight.copy_(torch.index_select(fc.expand.weight, 0, idx))
            fc.expand.bias.copy_(torch.index_select(fc.expand.bias, 0, idx))
            fc.reduce.weight.copy_(torch.index_select(fc.reduce.weight, 1, idx))
            se_importance = torch.sum(torch.abs(fc.expand.weight), dim=(0, 2, 3))
            _, se_idx = torch.sort(se_importance, dim=0, descending=True)
            fc.expand.weight.copy_(torch.index_select(fc.expand.weight, 1, se_idx))
            fc.reduce.weight.copy_(torch.index_select(fc.reduce.weight, 0, se_idx))
            fc.reduce.bias.copy_(torch.index_select(fc.reduce.bias, 0, se_idx))
        select_bn(self.inverted_bottleneck.bn.bn, idx)
        ib_w = self.inverted_bottleneck.conv.conv.weight
        ib_w.copy_(torch.index_select(ib_w, 0, idx))


def copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    """The first `dst.num_features` channels of a (dynamic) batch norm into a static one: every
    family's `extract` (MBConv here, the ResNet50 bottleneck in `nn.resnet50`)."""
    c = dst.num_features
    dst.weight.copy_(src.weight[:c])
    dst.bias.copy_(src.bias[:c])
    dst.running_mean.copy_(src.running_mean[:c])
    dst.running_var.copy_(src.running_var[:c])
    dst.eps, dst.momentum = src.eps, src.momentum

