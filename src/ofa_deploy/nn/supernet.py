"""The OFA supernet (MobileNetV3, ProxylessNAS): one network holding every subnet of a `SpaceSpec`.

`set_active(arch)` selects a subnet for the next forward passes (training); `extract(arch)`
copies its weights into a static `StaticSubnet` (evaluation, export). All shapes come from the
spec and its kind (`space.mobilenet.kinds`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..space import Arch, SpaceSpec
from ..space.mobilenet.arch import largest_mobilenet_arch
from . import layers as L
from .elastic import DynamicMBConvLayer


class OFASupernet(nn.Module):
    """The elastic supernet of a `SpaceSpec` of any MobileNet-family kind (MobileNetV3, ProxylessNAS):
    module names, activations, SE, the head and BN eps come from the spec's kind."""

    def __init__(self, spec: SpaceSpec, dropout_rate: float = 0.0):
        super().__init__()
        self.spec = spec
        kind = spec.kind_info
        self.first_conv = self._stem()
        blocks: list[nn.Module] = [self._first_block()]
        for _, s, j in spec.slots():
            conv = DynamicMBConvLayer(spec.block_in_width(s, j), spec.stage_widths[s], spec.ks_list,
                                      spec.expand_list, spec.block_stride(s, j), spec.stage_acts[s],
                                      spec.stage_se[s])
            blocks.append(L.ResidualBlock(conv, spec.has_shortcut(s, j)))
        self.blocks = nn.ModuleList(blocks)
        self._head_names = [h.name for h, _, _ in spec.head_layers()]
        for h, cin, cout in spec.head_layers():
            if not h.after_pool:
                setattr(self, h.name, L.ConvLayer(cin, cout, 1, use_bn=h.use_bn, act=h.act))
        self.global_avg_pool = L.GlobalAvgPool()
        for h, cin, cout in spec.head_layers():
            if h.after_pool:
                setattr(self, h.name, L.ConvLayer(cin, cout, 1, use_bn=h.use_bn, act=h.act))
        self.classifier = L.LinearLayer(spec.last_channel, spec.n_classes, dropout_rate)
        self.runtime_depth = [c[-1] for c in spec.stage_depth_choices]
        L.set_bn_eps(self, kind.bn_eps)
        self._init_weights()

    def _stem(self) -> nn.Module:
        spec = self.spec
        return L.ConvLayer(spec.in_channels, spec.first_conv_width, 3, 2, act=spec.kind_info.stem_act)

    def _first_block(self) -> nn.Module:
        spec = self.spec
        c0, c1 = spec.first_conv_width, spec.first_block_width
        conv = L.MBConvLayer(c0, c1, 3, 1, c0, spec.kind_info.first_block_act, False, expand=False)
        return L.ResidualBlock(conv, spec.first_block_shortcut)

    def _init_weights(self) -> None:
        L.he_fout_init(self)

    @property
    def elastic_blocks(self) -> list[DynamicMBConvLayer]:
        """The elastic MBConv bodies, one per gene slot."""
        return [b.conv for b in self.blocks[1:]]

    def set_active(self, arch: Arch) -> None:
        """Select the subnet used by the following forward passes (resolution is the input's)."""
        arch.validate(self.spec, check_resolution=False)
        for block, k, e in zip(self.elastic_blocks, arch.ks, arch.e):
            block.active_kernel_size = k
            block.active_expand_ratio = e
        self.runtime_depth = list(arch.d)

    def set_max(self) -> None:
        self.set_active(largest_mobilenet_arch(self.spec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks[0](self.first_conv(x))
        offsets = self.spec.stage_offsets
        for s, depth in enumerate(self.runtime_depth):
            for j in range(depth):
                x = self.blocks[1 + offsets[s] + j](x)
        for h, _, _ in self.spec.head_layers():
            if not h.after_pool:
                x = getattr(self, h.name)(x)
        x = self.global_avg_pool(x)
        for h, _, _ in self.spec.head_layers():
            if h.after_pool:
                x = getattr(self, h.name)(x)
        return self.classifier(x)

    @torch.no_grad()
    def extract(self, arch: Arch) -> L.StaticSubnet:
        """A static subnet with copied weights, in eval mode, on the supernet's device."""
        arch.validate(self.spec, check_resolution=False)
        spec = self.spec
        kind = spec.kind_info
        first_conv = self._stem()
        first_block = self._first_block()
        blocks: list[nn.Module] = [first_block]
        for b in arch.blocks(spec):
            dyn = self.blocks[1 + b["slot"]].conv
            blocks.append(L.ResidualBlock(dyn.extract(b["kernel_size"], b["expand_ratio"]), b["shortcut"]))
        head = []
        for h, cin, cout in spec.head_layers():
            layer = L.ConvLayer(cin, cout, 1, use_bn=h.use_bn, act=h.act)
            layer.load_state_dict(getattr(self, h.name).state_dict())
            head.append((h.name, layer, h.after_pool))
        dropout = self.classifier.dropout.p if self.classifier.dropout is not None else 0.0
        classifier = L.LinearLayer(spec.last_channel, spec.n_classes, dropout)
        classifier.load_state_dict(self.classifier.state_dict())
        first_conv.load_state_dict(self.first_conv.state_dict())
        first_block.load_state_dict(self.blocks[0].state_dict())
        net = L.StaticSubnet(first_conv, blocks, head, classifier, pool_key=kind.pool_key)
        pairs = [(first_conv, self.first_conv), (first_block, self.blocks[0])]
        pairs += [(layer, getattr(self, name)) for name, layer, _ in head]
        for dst, src in pairs:  # eps / momentum are not in state dicts
            for m_dst, m_src in zip(_bns(dst), _bns(src)):
                m_dst.eps, m_dst.momentum = m_src.eps, m_src.momentum
        p = next(self.parameters())
        return net.to(device=p.device, dtype=p.dtype).eval()

    @torch.no_grad()
    def sort_channels(self, expand_stage: int = 0) -> None:
        """Re-organise middle channels of every elastic block before an elastic-width phase
        (`expand_stage` = index of the smallest expand ratio still trained, upstream semantics)."""
        for block in self.elastic_blocks:
            block.sort_middle_channels(expand_stage)


def _bns(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


OFAMobileNetV3 = OFASupernet  # the name the MobileNetV3-only code used; the class serves every kind
