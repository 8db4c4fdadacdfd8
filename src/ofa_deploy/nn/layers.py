"""Static layers of an OFA subnet (MobileNetV3: Howard et al. 2019; ProxylessNAS: Cai et al. 2019).

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


def he_fout_init(model: nn.Module) -> None:
    """Upstream `init_model('he_fout')`: convs N(0, sqrt(2 / (k*k*out))), BN to identity, linear
    uniform(+-1/sqrt(in)) with zero bias. One initialiser for the supernets of every kind."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0, (2.0 / n) ** 0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            stdv = 1.0 / m.weight.size(1) ** 0.5
            nn.init.uniform_(m.weight, -stdv, stdv)
            nn.init.zeros_(m.bias)


def activation(name: str | None) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "relu6":
        return nn.ReLU6(inplace=True)
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


class Logits(nn.Module):
    """Pooling and everything after it as one module: ProxylessNAS's `Logits` latency-table entry."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)  # made on the fly by `layer_sequence`, never a network attribute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class StaticSubnet(nn.Module):
    """A static subnet of any kind: stem, blocks, head convs (by their upstream names, before and
    after the global pooling), classifier. `pool_key`: the pooling is a latency-table entry of its
    own (MobileNetV3's `AvgPool2D`), else it is part of `Logits` (ProxylessNAS)."""

    def __init__(self, first_conv: nn.Module, blocks: list[nn.Module], head: list[tuple[str, nn.Module, bool]],
                 classifier: nn.Module, pool_key: bool = True):
        super().__init__()
        self.first_conv = first_conv
        self.blocks = nn.ModuleList(blocks)
        self._pre = [name for name, _, after in head if not after]
        self._post = [name for name, _, after in head if after]
        for name, module, after in head:
            if not after:
                setattr(self, name, module)
        self.global_avg_pool = GlobalAvgPool()
        for name, module, after in head:
            if after:
                setattr(self, name, module)
        self.classifier = classifier
        self.pool_key = pool_key

    def layer_sequence(self) -> list[nn.Module]:
        """Modules that, chained, compute `forward` exactly: one per official latency-table entry
        (MobileNetV3: Conv, expanded_conv for each block, Conv_1, AvgPool2D, Conv_2, Logits;
        ProxylessNAS: Conv, expanded_conv for each block, Conv_1, Logits)."""
        pre = [getattr(self, n) for n in self._pre]
        tail = [self.global_avg_pool, *(getattr(self, n) for n in self._post), self.classifier]
        if self.pool_key:
            return [self.first_conv, *self.blocks, *pre, *tail]
        return [self.first_conv, *self.blocks, *pre, Logits(tail)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer_sequence():
            x = layer(x)
        return x


class MobileNetV3(StaticSubnet):
    """A static OFA MobileNetV3 subnet: stem, blocks, final expand, pooling, feature mix, classifier."""

    def __init__(self, first_conv: nn.Module, blocks: list[nn.Module], final_expand_layer: nn.Module,
                 feature_mix_layer: nn.Module, classifier: nn.Module):
        super().__init__(first_conv, blocks, [("final_expand_layer", final_expand_layer, False),
                                              ("feature_mix_layer", feature_mix_layer, True)], classifier)


def set_bn_eps(module: nn.Module, eps: float) -> None:
    """The official constructors' BatchNorm eps (MobileNetV3 1e-5, ProxylessNAS 1e-3) on every BN."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps
