"""An fp64 copy of a PyTorch subnet that runs in seconds, for the fp32 check's rounding reference.

`export.parity.fp64_rounding` evaluates the subnet in float64 on the worst images to tell an
ill-conditioned network from a wrong file. PyTorch's CPU float64 convolution has no oneDNN kernel:
a depthwise conv falls to `_slow_conv2d_forward` once per channel (measured on the w1.2 largest
subnet at r 224: 98 % of the fp64 time, about 15 s per image under load). Here every depthwise
`nn.Conv2d` of the copy is replaced by the same convolution written as a sum of k*k shifted slices
times the per-channel weight (`ShiftedDepthwise`), vectorised over batch and channels: the same
mathematics in float64 (only the order of the k*k additions differs, far below fp32's rounding),
tens of times faster. Other layers are PyTorch's own in float64.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


class ShiftedDepthwise(nn.Module):
    """A depthwise `nn.Conv2d` (groups == in == out channels, zero padding, any stride and dilation)."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (dh, dw) = self.weight.shape[2:], self.stride, self.dilation
        ph, pw = self.padding
        x = F.pad(x, (pw, pw, ph, ph))
        ho = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
        wo = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
        w = self.weight[:, 0]
        out = x.new_zeros(x.shape[0], x.shape[1], ho, wo)
        for i in range(kh):
            for j in range(kw):
                patch = x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
                out.addcmul_(patch, w[:, i, j].view(1, -1, 1, 1))
        if self.bias is not None:
            out += self.bias.view(1, -1, 1, 1)
        return out


def _is_depthwise(m: nn.Module) -> bool:
    return (isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels == m.out_channels
            and m.padding_mode == "zeros" and isinstance(m.padding, tuple))


def fp64_copy(module: nn.Module) -> nn.Module:
    """A float64, eval-mode deep copy of `module` with its depthwise convs as `ShiftedDepthwise`."""
    m = copy.deepcopy(module).double().eval()
    for name, child in list(m.named_modules()):
        if _is_depthwise(child):
            parent, _, attr = name.rpartition(".")
            setattr(m.get_submodule(parent) if parent else m, attr, ShiftedDepthwise(child))
    return m


__all__ = ["ShiftedDepthwise", "fp64_copy"]
