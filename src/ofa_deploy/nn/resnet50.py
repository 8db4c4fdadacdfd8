"""The OFA ResNet50 supernet in PyTorch (Cai et al., "Once for All", ICLR 2020): elastic depth,
expand ratio and width, a skippable input-stem conv, and static ResNet-D subnets to export.

Module and parameter names are the official ones (`input_stem.1.conv.conv.conv.weight`,
`blocks.N.conv1.conv.conv.weight`, `blocks.N.downsample.bn.bn.*`, `classifier.linear.linear.*` in
the supernet; one level less in a static subnet), so released checkpoints load by name. Every
shape comes from `ResNet50Spec`; the semantics (which channels a subnet uses, the order of layers,
the channel sorting before the width phase) follow upstream `OFAResNets` line by line.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpaceError
from ..space.resnet50 import (
    BASE_DEPTH_LIST,
    KIND,
    STAGE_STRIDES,
    ResNet50Spec,
    ResNetArch,
    infer_resnet_spec_from_state,
    largest_resnet_arch,
)
from ..space.spec import CHANNEL_DIVISIBLE, make_divisible, middle_channels
from . import layers as L
from .channels import importance_order, select_bn
from .elastic import DynamicBatchNorm2d, copy_bn


# ---- static subnet ---------------------------------------------------------------------------
class BottleneckBlock(nn.Module):
    """ResNet bottleneck: 1x1 -> 3x3 (strided) -> 1x1, plus the shortcut: identity, or ResNet-D's
    avg-pool + 1x1 conv when the block changes shape (upstream `ResNetBottleneckBlock`, 'avgpool_conv')."""

    def __init__(self, cin: int, cout: int, mid: int, stride: int):
        super().__init__()
        self.conv1 = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(cin, mid, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(mid)),
            ("act", nn.ReLU(inplace=True))]))
        self.conv2 = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(mid, mid, 3, stride, 1, bias=False)), ("bn", nn.BatchNorm2d(mid)),
            ("act", nn.ReLU(inplace=True))]))
        self.conv3 = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(mid, cout, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(cout))]))
        if stride == 1 and cin == cout:
            self.downsample = None
        else:
            self.downsample = nn.Sequential(OrderedDict([
                ("avg_pool", nn.AvgPool2d(stride, stride, 0, ceil_mode=True)),
                ("conv", nn.Conv2d(cin, cout, 1, 1, 0, bias=False)), ("bn", nn.BatchNorm2d(cout))]))
        self.final_act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.final_act(self.conv3(self.conv2(self.conv1(x))) + residual)


class GlobalAvgPool(nn.Module):
    """Mean over W then H, no kept dims (upstream `MyGlobalAvgPool2d(keep_dim=False)`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(3).mean(2)


class ResNets(nn.Module):
    """A static OFA ResNet50 subnet (upstream `ResNets`): stem, max pooling, bottlenecks, head."""

    def __init__(self, input_stem: list[nn.Module], blocks: list[nn.Module], classifier: nn.Module):
        super().__init__()
        self.input_stem = nn.ModuleList(input_stem)
        self.max_pooling = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.blocks = nn.ModuleList(blocks)
        self.global_avg_pool = GlobalAvgPool()
        self.classifier = classifier

    def layer_sequence(self) -> list[nn.Module]:
        """Modules that, chained, compute `forward` exactly (the units of a latency table)."""
        return [*self.input_stem, self.max_pooling, *self.blocks, self.global_avg_pool, self.classifier]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layer_sequence():
            x = layer(x)
        return x


# ---- elastic layers --------------------------------------------------------------------------
class DynamicConv2d(nn.Module):
    """kxk conv using the first `active_out_channel` filters over the input's channels (upstream)."""

    def __init__(self, max_in: int, max_out: int, kernel_size: int = 1, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(max_in, max_out, kernel_size, stride=stride, bias=False)
        self.kernel_size, self.stride = kernel_size, stride
        self.active_out_channel = max_out

    def active_filter(self, out_channels: int, in_channels: int) -> torch.Tensor:
        return self.conv.weight[:out_channels, :in_channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.active_filter(self.active_out_channel, x.size(1)).contiguous()
        return F.conv2d(x, w, None, self.stride, self.kernel_size // 2)


class DynamicConvLayer(nn.Module):
    """conv -> bn -> relu with an elastic output width (upstream `DynamicConvLayer`)."""

    def __init__(self, max_in: int, max_out: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.conv = DynamicConv2d(max_in, max_out, kernel_size, stride)
        self.bn = DynamicBatchNorm2d(max_out)
        self.act = nn.ReLU(inplace=True)
        self.kernel_size, self.stride = kernel_size, stride
        self.active_out_channel = max_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.conv.active_out_channel = self.active_out_channel
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def extract(self, cin: int) -> L.ConvLayer:
        out = L.ConvLayer(cin, self.active_out_channel, self.kernel_size, self.stride, act="relu")
        out.conv.weight.copy_(self.conv.active_filter(self.active_out_channel, cin))
        copy_bn(out.bn, self.bn.bn)
        return out


class DynamicBottleneckBlock(nn.Module):
    """Bottleneck with elastic expand ratio (middle width from the *output* width) and output width."""

    def __init__(self, max_in: int, max_out: int, expand_list: tuple[float, ...], stride: int, downsample: bool):
        super().__init__()
        self.expand_list, self.stride, self.max_out = tuple(expand_list), stride, max_out
        max_mid = middle_channels(max_out, max(expand_list))
        self.conv1 = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(max_in, max_mid)), ("bn", DynamicBatchNorm2d(max_mid)),
            ("act", nn.ReLU(inplace=True))]))
        self.conv2 = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(max_mid, max_mid, 3, stride)), ("bn", DynamicBatchNorm2d(max_mid)),
            ("act", nn.ReLU(inplace=True))]))
        self.conv3 = nn.Sequential(OrderedDict([
            ("conv", DynamicConv2d(max_mid, max_out)), ("bn", DynamicBatchNorm2d(max_out))]))
        if downsample:
            self.downsample = nn.Sequential(OrderedDict([
                ("avg_pool", nn.AvgPool2d(stride, stride, 0, ceil_mode=True)),
                ("conv", DynamicConv2d(max_in, max_out)), ("bn", DynamicBatchNorm2d(max_out))]))
        else:
            self.downsample = None
        self.final_act = nn.ReLU(inplace=True)
        self.active_expand_ratio = max(expand_list)
        self.active_out_channel = max_out

    @property
    def active_middle_channels(self) -> int:
        return middle_channels(self.active_out_channel, self.active_expand_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.active_middle_channels
        self.conv1.conv.active_out_channel = mid
        self.conv2.conv.active_out_channel = mid
        self.conv3.conv.active_out_channel = self.active_out_channel
        if self.downsample is not None:
            self.downsample.conv.active_out_channel = self.active_out_channel
            residual = self.downsample(x)
        else:
            residual = x
        return self.final_act(self.conv3(self.conv2(self.conv1(x))) + residual)

    @torch.no_grad()
    def extract(self, cin: int) -> BottleneckBlock:
        mid, cout = self.active_middle_channels, self.active_out_channel
        out = BottleneckBlock(cin, cout, mid, self.stride)
        out.conv1.conv.weight.copy_(self.conv1.conv.active_filter(mid, cin))
        copy_bn(out.conv1.bn, self.conv1.bn.bn)
        out.conv2.conv.weight.copy_(self.conv2.conv.active_filter(mid, mid))
        copy_bn(out.conv2.bn, self.conv2.bn.bn)
        out.conv3.conv.weight.copy_(self.conv3.conv.active_filter(cout, mid))
        copy_bn(out.conv3.bn, self.conv3.bn.bn)
        if out.downsample is not None:
            if self.downsample is None:  # unreachable for a valid spec (ResNet50Spec rejects the clash)
                raise SpaceError("the subnet needs a downsample conv that the supernet block lacks")
            out.downsample.conv.weight.copy_(self.downsample.conv.active_filter(cout, cin))
            copy_bn(out.downsample.bn, self.downsample.bn.bn)
        return out

    @torch.no_grad()
    def sort_middle_channels(self, expand_stage: int = 0) -> None:
        """Upstream `re_organize_middle_weights`: sort conv2's outputs by the L1 importance of conv3's
        inputs, then conv1's outputs by conv2's inputs; with `expand_stage > 0` the channels of each
        smaller expand ratio stay in their own group (offsets of 1e5, as upstream)."""
        targets = [make_divisible(round(self.max_out * e), CHANNEL_DIVISIBLE)
                   for e in sorted(self.expand_list, reverse=True)]
        for consumer, producer in ((self.conv3, self.conv2), (self.conv2, self.conv1)):
            cw = consumer.conv.conv.weight
            idx = importance_order(cw, targets, expand_stage)
            cw.copy_(torch.index_select(cw, 1, idx))
            select_bn(producer.bn.bn, idx)
            pw = producer.conv.conv.weight
            pw.copy_(torch.index_select(pw, 0, idx))


class _DynamicLinear(nn.Module):
    """Holds the full classifier (`linear.weight`); sliced by `DynamicLinearLayer`."""

    def __init__(self, max_in: int, n_out: int):
        super().__init__()
        self.linear = nn.Linear(max_in, n_out)


class DynamicLinearLayer(nn.Module):
    """[dropout] -> linear over the first input features (keys `linear.linear.*`, as upstream)."""

    def __init__(self, max_in: int, n_out: int, dropout_rate: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout_rate, inplace=True) if dropout_rate > 0 else None
        self.linear = _DynamicLinear(max_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropout is not None:
            x = self.dropout(x)
        lin = self.linear.linear
        return F.linear(x, lin.weight[:, : x.size(1)].contiguous(), lin.bias)

    @torch.no_grad()
    def extract(self, cin: int) -> L.LinearLayer:
        lin = self.linear.linear
        out = L.LinearLayer(cin, lin.out_features, self.dropout.p if self.dropout is not None else 0.0)
        out.linear.weight.copy_(lin.weight[:, :cin])
        out.linear.bias.copy_(lin.bias)
        return out


# ---- the supernet ----------------------------------------------------------------------------
class OFAResNet50(nn.Module):
    """Every subnet of a `ResNet50Spec`. `set_active(arch)` selects one for the next forward passes;
    `extract(arch)` copies its weights into a static `ResNets`."""

    def __init__(self, spec: ResNet50Spec, dropout_rate: float = 0.0):
        super().__init__()
        self.spec = spec
        mid, stem = max(spec.stem_mid_widths), max(spec.stem_widths)
        self.input_stem = nn.ModuleList([
            DynamicConvLayer(spec.in_channels, mid, 3, 2),
            L.ResidualBlock(DynamicConvLayer(mid, mid, 3, 1), True),
            DynamicConvLayer(mid, stem, 3, 1),
        ])
        self.max_pooling = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        blocks = []
        in_list: tuple[int, ...] = spec.stem_widths
        for s, n in enumerate(spec.stage_slots):
            out_list = spec.stage_widths[s]
            for j in range(n):
                stride = STAGE_STRIDES[s] if j == 0 else 1
                # Upstream compares the width *lists*: a shortcut conv unless the block keeps them.
                downsample = not (stride == 1 and in_list == out_list)
                blocks.append(DynamicBottleneckBlock(max(in_list), max(out_list), spec.expand_list, stride, downsample))
                in_list = out_list
        self.blocks = nn.ModuleList(blocks)
        self.global_avg_pool = GlobalAvgPool()
        self.classifier = DynamicLinearLayer(max(spec.stage_widths[-1]), spec.n_classes, dropout_rate)
        self.skip_stem = False
        self.runtime_depth = [BASE_DEPTH_LIST[s] + spec.max_depth for s in range(spec.n_stages)]
        self._init_weights()

    def _init_weights(self) -> None:
        L.he_fout_init(self)

    @property
    def kind(self) -> str:
        return KIND

    def set_active(self, arch: ResNetArch) -> None:
        """Select the subnet used by the following forward passes (resolution is the input's)."""
        arch = arch.validate(self.spec, check_resolution=False)
        spec = self.spec
        mid, stem = arch.stem(spec)
        self.input_stem[0].active_out_channel = mid
        self.input_stem[1].conv.active_out_channel = mid
        self.input_stem[2].active_out_channel = stem
        self.skip_stem = arch.skip_stem(spec)
        self.runtime_depth = [spec.stage_depth(s, d) for s, d in enumerate(arch.d[1:])]
        for i, block in enumerate(self.blocks):
            s = spec.slot_stage[i]
            block.active_out_channel = spec.stage_widths[s][arch.w[2 + s]]
            block.active_expand_ratio = arch.e[i] if arch.e[i] in spec.expand_list else spec.expand_list[-1]

    def set_max(self) -> None:
        self.set_active(largest_resnet_arch(self.spec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_stem[0](x)
        if not self.skip_stem:
            x = self.input_stem[1](x)
        x = self.max_pooling(self.input_stem[2](x))
        for s, depth in enumerate(self.runtime_depth):
            start = self.spec.stage_starts[s]
            for i in range(start, start + depth):
                x = self.blocks[i](x)
        return self.classifier(self.global_avg_pool(x))

    @torch.no_grad()
    def extract(self, arch: ResNetArch) -> ResNets:
        """A static subnet with copied weights, in eval mode, on the supernet's device (as upstream's
        `get_active_subnet`, it reads the active widths: the arch stays active afterwards)."""
        arch = arch.validate(self.spec, check_resolution=False)
        self.set_active(arch)
        spec = self.spec
        mid = arch.stem(spec)[0]
        stem: list[nn.Module] = [self.input_stem[0].extract(spec.in_channels)]
        if not arch.skip_stem(spec):
            stem.append(L.ResidualBlock(self.input_stem[1].conv.extract(mid), True))
        stem.append(self.input_stem[2].extract(mid))
        blocks = []
        for b in arch.blocks(spec):
            blocks.append(self.blocks[b["slot"]].extract(b["in_channels"]))
        net = ResNets(stem, blocks, self.classifier.extract(arch.last_width(spec)))
        p = next(self.parameters())
        return net.to(device=p.device, dtype=p.dtype).eval()

    @torch.no_grad()
    def sort_channels(self, expand_stage: int = 0) -> None:
        """Upstream `re_organize_middle_weights(expand_ratio_stage)` on every block (before the
        elastic-expand phases)."""
        for block in self.blocks:
            block.sort_middle_channels(expand_stage)


# ---- checkpoints -----------------------------------------------------------------------------
def _static_to_dynamic(key: str, own: set[str]) -> str:
    """Upstream `OFAResNets.load_state_dict`: a key of the static naming (a `ResNets` state dict)
    becomes the supernet's by one replacement, tried in upstream's order."""
    if key in own:
        return key
    if ".linear." in key:
        return key.replace(".linear.", ".linear.linear.")
    if "bn." in key:
        return key.replace("bn.", "bn.bn.")
    if "conv.weight" in key:
        return key.replace("conv.weight", "conv.conv.weight")
    return key


def normalise_resnet_keys(state: dict[str, Any], own: set[str]) -> dict[str, Any]:
    """Drop a DataParallel `module.` prefix and map static names to the supernet's (`own`) ones."""
    return {_static_to_dynamic(k.removeprefix("module."), own): v for k, v in state.items()}


__all__ = [
    "BottleneckBlock",
    "OFAResNet50",
    "ResNets",
    "infer_resnet_spec_from_state",
    "normalise_resnet_keys",
]
