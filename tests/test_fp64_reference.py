"""The fp64 rounding reference (`export.fp64`): its depthwise convs compute what PyTorch's own do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ofa_deploy.export.fp64 import ShiftedDepthwise, fp64_copy


@pytest.mark.parametrize("k,stride,dilation", [(3, 1, 1), (5, 2, 1), (7, 1, 1), (7, 2, 1), (3, 1, 2)])
def test_shifted_depthwise_equals_torch_conv(k, stride, dilation):
    torch.manual_seed(k * 10 + stride)
    conv = nn.Conv2d(6, 6, k, stride=stride, padding=dilation * (k // 2), dilation=dilation, groups=6,
                     bias=stride == 2).double()
    x = torch.randn(3, 6, 13, 11, dtype=torch.float64)
    with torch.no_grad():
        want, got = conv(x), ShiftedDepthwise(conv)(x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_fp64_copy_replaces_only_depthwise_and_matches():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Conv2d(8, 8, 5, stride=2, padding=2, groups=8, bias=False), nn.Conv2d(8, 4, 1),
                      nn.Conv2d(4, 8, 3, padding=1, groups=2)).eval()
    m64 = fp64_copy(m)
    kinds = [type(c).__name__ for c in m64]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "ShiftedDepthwise", "Conv2d", "Conv2d"]
    assert type(m[3]).__name__ == "Conv2d"  # the original is untouched
    x = torch.randn(2, 3, 15, 15, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(m64(x), m.double()(x), rtol=1e-12, atol=1e-12)
