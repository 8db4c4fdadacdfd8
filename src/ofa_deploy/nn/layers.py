"""Static layers of an OFA MobileNetV3 subnet (Howard et al., "Searching for MobileNetV3", 2019).

Module and parameter names follow the official OFA code (`first_conv.conv`, `blocks.N.conv.
inverted_bottleneck.conv`, `depth_conv.se.fc.reduce`, `classifier.linear`, ...) so that official
subnet weights load by name. These modules are what gets exported: no dynamic code here.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..space.spec import se_channels


def activation(name: str | None) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "h_swish":
        return nn.Hardswish(inplace=True)
    if name is None:
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")


class HSigmoid(nn.Module):
    """relu6(x + 3) / 6, the hard sigmoid of MobileNetV3's squeeze-and-excitation gate."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class SEModule(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018) with the hard-sigmoid gate, reduction 4."""

    def __init__(self, channels: int, mid: int | None = None):
        super().__init__()
        mid = se_channels(channels) if mid is None else mid
        self.fc = nn.Sequential(OrderedDict([
            ("reduce", nn.Conv2d(channels, mid, 1, bias=True)),
            ("relu", nn.ReLU(inplace=True)),
            ("expand", nn.Conv2d(mid, channels, 1, bias=True)),
            ("h_sigmoid", HSigmoid()),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(3, keepdim=True).mean(2, keepdim=True)
        return x * self.fc(y)


class ConvLayer(nn.Sequential):
    """conv -> [bn] -> act ('weight_bn_act' order)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 1, stride: int = 1, use_bn: bool = True,
                 act: str | None = "h_swish"):
        layers: list[tuple[str, nn.Module]] = [
            ("conv", nn.Conv2d(cin, cout, kernel_size, stride, kernel_size // 2, bias=False))
        ]
        if use_bn:
            layers.append(("bn", nn.BatchNorm2d(cout)))
        if act is not None:
            layers.append(("act", activation(act)))
        super().__init__(OrderedDict(layers))


class MBConvLayer(nn.Module):
    """Inverted residual body: 1x1 expand -> kxk depthwise (+SE) -> 1x1 project."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, mid: int, act: str, use_se: bool,
                 expand: bool = True):
        super().__init__()
        if expand:
            self.inverted_bottleneck = nn.Sequential(OrderedDict([
                ("conv", nn.Conv2d(cin, mid, 1, bias=False)),
                ("bn", nn.BatchNorm2d(mid)),
                ("act", activation(act)),
            ]))
        else:
            self.inverted_bottleneck = None
        dw: list[tuple[str, nn.Module]] = [
            ("conv", nn.Conv2d(mid, mid, kernel_size, stride, kernel_size // 2, groups=mid, bias=False)),
            ("bn", nn.BatchNorm2d(mid)),
            ("act", activation(act)),
        ]
        if use_se:
            dw.append(("se", SEModule(mid)))
        self.depth_conv = nn.Sequential(OrderedDict(dw))
        self.point_linear = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(mid, cout, 1, bias=False)),
            ("bn", nn.BatchNorm2d(cout)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class ResidualBlock(nn.Module):
    """`conv(x) + x` when the block keeps shape, else `conv(x)`."""

    def __init__(self, conv: nn.Module, shortcut: bool):
        super().__init__()
        self.conv = conv
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y + x if self.shortcut else y


class GlobalAvgPool(nn.Module):
    """Mean over H then W, keeping dims (as upstream: `x.mean(3, keepdim=True).mean(2, keepdim=True)`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(3, keepdim=True).mean(2, keepdim=True)


class LinearLayer(nn.Module):
    """Flatten -> [dropout] -> linear classifier."""

    def __init__(self, in_features: int, out_features: int, dropout_rate: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout_rate, inplace=True) if dropout_rate > 0 else None
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.linear(x)


class MobileNetV3(nn.Module):
    """A static subnet: stem, blocks, final expand, pooling, feature mix, classifier."""

    def __init__(self, first_conv: nn.Module, blocks: list[nn.Module], final_expand_layer: nn.Module,
                 feature_mix_layer: nn.Module, classifier: nn.Module):
        super().__init__()
        self.first_conv = first_conv
        self.blocks = nn.ModuleList(blocks)
        self.final_expand_layer = final_expand_layer
        self.global_avg_pool = GlobalAvgPool()
        self.feature_mix_layer = feature_mix_layer
        self.classifier = classifier

    def layer_sequence(self) -> list[nn.Module]:
        """Modules that, chained, compute `forward` exactly: one per official latency-table entry
        (Conv, expanded_conv for each block, Conv_1, AvgPool2D, Conv_2, Logits)."""
        return [self.first_conv, *self.blocks, self.final_expand_layer, self.global_avg_pool,
                self.feature_mix_layer, self.classifier]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer_sequence():
            x = layer(x)
        return x
