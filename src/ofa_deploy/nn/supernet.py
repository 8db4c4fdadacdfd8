"""The OFA MobileNetV3 supernet: one network holding every subnet of a `SpaceSpec`.

`set_active(arch)` selects a subnet for the next forward passes (training); `extract(arch)`
copies its weights into a static `MobileNetV3` (evaluation, export). All shapes come from the spec.
"""

from __future__ import annotations

import torch
from torch import nn

from ..space import Arch, SpaceSpec, largest_arch
from . import layers as L
from .elastic import DynamicMBConvLayer, _copy_bn


class OFAMobileNetV3(nn.Module):
    def __init__(self, spec: SpaceSpec, dropout_rate: float = 0.0):
        super().__init__()
        self.spec = spec
        c0, c1 = spec.first_conv_width, spec.first_block_width
        self.first_conv = L.ConvLayer(spec.in_channels, c0, 3, 2, act="h_swish")
        first_block = L.ResidualBlock(L.MBConvLayer(c0, c1, 3, 1, c0, "relu", False, expand=False), c0 == c1)
        blocks: list[nn.Module] = [first_block]
        for s in range(spec.n_stages):
            for j in range(spec.max_depth):
                conv = DynamicMBConvLayer(spec.block_in_width(s, j), spec.stage_widths[s], spec.ks_list,
                                          spec.expand_list, spec.block_stride(s, j), spec.stage_acts[s],
                                          spec.stage_se[s])
                blocks.append(L.ResidualBlock(conv, spec.has_shortcut(s, j)))
        self.blocks = nn.ModuleList(blocks)
        self.final_expand_layer = L.ConvLayer(spec.stage_widths[-1], spec.final_expand_width, 1, act="h_swish")
        self.global_avg_pool = L.GlobalAvgPool()
        self.feature_mix_layer = L.ConvLayer(spec.final_expand_width, spec.last_channel, 1, use_bn=False,
                                             act="h_swish")
        self.classifier = L.LinearLayer(spec.last_channel, spec.n_classes, dropout_rate)
        self.runtime_depth = list(spec.depth_list[-1:] * spec.n_stages)
        self._init_weights()

    def _init_weights(self) -> None:
        """He init for convs, N(0, 0.01) linear (upstream `init_model('he_fout')`)."""
        for m in self.modules():
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

    @property
    def elastic_blocks(self) -> list[DynamicMBConvLayer]:
        return [b.conv for b in self.blocks[1:]]

    def set_active(self, arch: Arch) -> None:
        """Select the subnet used by the following forward passes (resolution is the input's)."""
        arch.validate(self.spec, check_resolution=False)
        for block, k, e in zip(self.elastic_blocks, arch.ks, arch.e):
            block.active_kernel_size = k
            block.active_expand_ratio = e
        self.runtime_depth = list(arch.d)

    def set_max(self) -> None:
        self.set_active(largest_arch(self.spec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks[0](self.first_conv(x))
        md = self.spec.max_depth
        for s, depth in enumerate(self.runtime_depth):
            for j in range(depth):
                x = self.blocks[1 + s * md + j](x)
        x = self.global_avg_pool(self.final_expand_layer(x))
        return self.classifier(self.feature_mix_layer(x))

    @torch.no_grad()
    def extract(self, arch: Arch) -> L.MobileNetV3:
        """A static subnet with copied weights, in eval mode, on the supernet's device."""
        arch.validate(self.spec, check_resolution=False)
        spec = self.spec
        first_conv = L.ConvLayer(spec.in_channels, spec.first_conv_width, 3, 2, act="h_swish")
        first_conv.load_state_dict(self.first_conv.state_dict())
        c0, c1 = spec.first_conv_width, spec.first_block_width
        first_block = L.ResidualBlock(L.MBConvLayer(c0, c1, 3, 1, c0, "relu", False, expand=False), c0 == c1)
        first_block.load_state_dict(self.blocks[0].state_dict())
        blocks: list[nn.Module] = [first_block]
        for b in arch.blocks(spec):
            dyn = self.blocks[1 + b["slot"]].conv
            blocks.append(L.ResidualBlock(dyn.extract(b["kernel_size"], b["expand_ratio"]), b["shortcut"]))
        final = L.ConvLayer(spec.stage_widths[-1], spec.final_expand_width, 1, act="h_swish")
        final.load_state_dict(self.final_expand_layer.state_dict())
        mix = L.ConvLayer(spec.final_expand_width, spec.last_channel, 1, use_bn=False, act="h_swish")
        mix.load_state_dict(self.feature_mix_layer.state_dict())
        dropout = self.classifier.dropout.p if self.classifier.dropout is not None else 0.0
        head = L.LinearLayer(spec.last_channel, spec.n_classes, dropout)
        head.load_state_dict(self.classifier.state_dict())
        net = L.MobileNetV3(first_conv, blocks, final, mix, head)
        for m_src, m_dst in ((self.first_conv.bn, first_conv.bn), (self.final_expand_layer.bn, final.bn)):
            _copy_bn(m_dst, m_src)
        p = next(self.parameters())
        return net.to(device=p.device, dtype=p.dtype).eval()

    @torch.no_grad()
    def sort_channels(self, expand_stage: int = 0) -> None:
        """Re-organise middle channels of every elastic block before an elastic-width phase
        (`expand_stage` = index of the smallest expand ratio still trained, upstream semantics)."""
        for block in self.elastic_blocks:
            block.sort_middle_channels(expand_stage)
