"""Conformance of the OFA ResNet50 space and supernet with the official code (../shared/golden/ofa_resnet50).

`cases.json` / `cases.pt`: an official `OFAResNets` on stage widths [112, 224, 448, 896] with
randomised weights: subnet params, MFLOPs (`ResNet50LatencyTable.count_flops_given_config`), the
subnet's `ResNets` net.config and logits (extracted subnet and supernet, relative error <= 1e-4 of
the largest logit). `costs.json`: 40 subnets of the real space (no weights).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support.shared import SHARED, need_shared

from ofa_deploy.errors import CheckpointError
from ofa_deploy.nn.checkpoint import load_supernet, read_checkpoint
from ofa_deploy.nn.resnet50 import OFAResNet50, infer_resnet_spec_from_state
from ofa_deploy.space.resnet50 import (
    ResNet50Spec,
    ResNetArch,
    ResNetBatch,
    from_net_config,
    resnet_arch_costs,
    resnet_cost_model,
    to_net_config,
)

pytestmark = pytest.mark.golden  # conformance with the official code (../shared)

GOLDEN = SHARED / "golden" / "ofa_resnet50"
TOL = 1e-4


@pytest.fixture(scope="module")
def golden():
    doc = json.loads(need_shared(GOLDEN / "cases.json").read_text())
    io = torch.load(need_shared(GOLDEN / "cases.pt"), map_location="cpu", weights_only=True)
    return doc, io


@pytest.fixture(scope="module")
def golden_net():
    return load_supernet(need_shared(GOLDEN / "supernet.pth"))


@pytest.fixture(scope="module")
def real_costs():
    return json.loads(need_shared(GOLDEN / "costs.json").read_text())["cases"]


def test_space_inferred_from_checkpoint(golden, golden_net):
    doc, _ = golden
    sup = doc["supernet"]
    spec = golden_net.spec
    assert spec == ResNet50Spec(stage_base_widths=tuple(sup["stage_width_list"]), n_classes=sup["n_classes"])
    assert list(spec.depth_list) == sup["depth_list"]
    assert list(spec.expand_list) == sup["expand_ratio_list"]
    assert list(spec.width_mult_list) == sup["width_mult_list"]
    assert spec.n_blocks == sup["n_blocks"]


def test_golden_cases(golden, golden_net):
    doc, io = golden
    spec = golden_net.spec
    assert len(doc["cases"]) == 8
    for case in doc["cases"]:
        arch = ResNetArch.from_dict(case["arch"])
        x, expected = io[case["name"]]["input"], io[case["name"]]["logits"]
        scale = expected.abs().max().item()
        with torch.no_grad():
            sub = golden_net.extract(arch)
            y_sub = sub(x)
            golden_net.set_active(arch)
            y_super = golden_net(x)
        assert (y_sub - expected).abs().max().item() / scale <= TOL, case["name"]
        assert (y_super - expected).abs().max().item() / scale <= TOL, case["name"]
        assert sum(p.numel() for p in sub.parameters()) == case["subnet_params"], case["name"]
        params, macs = resnet_arch_costs(spec, arch)
        assert params == case["subnet_params"], case["name"]
        assert macs / 1e6 == pytest.approx(case["mflops"], rel=1e-12, abs=0), case["name"]
        assert to_net_config(spec, arch) == case["net_config"], case["name"]
        back_spec, back = from_net_config(case["net_config"], spec, image_size=arch.r)
        assert back_spec == spec and back == arch.canonical(spec), case["name"]


def test_real_space_costs(real_costs):
    spec = ResNet50Spec()
    archs = [ResNetArch.from_dict(c["arch"]) for c in real_costs]
    assert len(archs) == 40
    params, macs = resnet_cost_model(spec).params_and_macs(ResNetBatch.from_archs(archs))
    assert params.tolist() == [c["subnet_params"] for c in real_costs]
    assert np.allclose(macs / 1e6, [c["mflops"] for c in real_costs], rtol=1e-12, atol=0)
    for c, arch in zip(real_costs, archs):
        assert to_net_config(spec, arch) == c["net_config"], c["name"]
        # A net.config alone (no space given) reads back in the official space.
        back_spec, back = from_net_config(c["net_config"], image_size=arch.r)
        assert back_spec == spec and back == arch.canonical(spec), c["name"]


def test_real_space_extracted_params_match_the_closed_form(real_costs):
    """The static modules we export have exactly the official parameter count (random weights, no
    forward: the smallest and a middle case keep it quick)."""
    spec = ResNet50Spec()
    net = OFAResNet50(spec)
    for c in (real_costs[1], real_costs[2]):
        sub = net.extract(ResNetArch.from_dict(c["arch"]))
        assert sum(p.numel() for p in sub.parameters()) == c["subnet_params"]


def test_static_key_style_loads_like_the_current_one(golden_net, tmp_path):
    """Upstream `OFAResNets.load_state_dict` also accepts the static names (`conv.weight`, `bn.*`,
    `classifier.linear.*`); a `module.` prefix (DataParallel) is dropped."""
    state = read_checkpoint(GOLDEN / "supernet.pth")["state_dict"]
    static = {"module." + k.replace("conv.conv.weight", "conv.weight").replace("bn.bn.", "bn.")
              .replace("linear.linear.", "linear."): v for k, v in state.items()}
    assert not any("bn.bn." in k for k in static)
    torch.save({"state_dict": static}, tmp_path / "static.pth")
    net = load_supernet(tmp_path / "static.pth")
    assert net.spec == golden_net.spec
    for (ka, va), (kb, vb) in zip(net.state_dict().items(), golden_net.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_wrong_checkpoint_fails_in_one_line(tmp_path):
    state = read_checkpoint(need_shared(GOLDEN / "supernet.pth"))["state_dict"]
    broken = {k: v for k, v in state.items() if not k.startswith("blocks.3.")}
    torch.save({"state_dict": broken}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="missing keys: blocks.3."):
        load_supernet(tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="not an OFA ResNet50"):
        infer_resnet_spec_from_state({"first_conv.conv.weight": torch.zeros(1)})


def test_channel_sorting_keeps_the_max_net_and_orders_by_importance(golden):
    """`sort_channels` (upstream `re_organize_middle_weights`) permutes middle channels only: the
    largest subnet computes the same function; with expand_stage=0 conv3's input importance ends in
    descending order; with expand_stage=1 the first `make_divisible(round(112 * 0.25), 8)` = 32
    channels (what expand 0.25 uses) stay a group: sorted among themselves, never swapped with the
    channels only expand 0.35 uses (checked here against a bit-exact run of the official code)."""
    _, io = golden
    x = io["case0"]["input"][:1, :, :128, :128]
    net = load_supernet(GOLDEN / "supernet.pth")
    fresh = load_supernet(GOLDEN / "supernet.pth")
    net.set_max()
    with torch.no_grad():
        before = net(x)
        net.sort_channels(0)
        after = net(x)
    assert (after - before).abs().max().item() <= 1e-5 * before.abs().max().item()
    for block in net.blocks:
        imp = block.conv3.conv.conv.weight.abs().sum(dim=(0, 2, 3))
        assert torch.all(imp[:-1] >= imp[1:])
    imp0 = fresh.blocks[0].conv3.conv.conv.weight.abs().sum(dim=(0, 2, 3))
    assert len(imp0) == 40
    fresh.sort_channels(1)
    imp1 = fresh.blocks[0].conv3.conv.conv.weight.abs().sum(dim=(0, 2, 3))
    assert torch.equal(imp1[:32], torch.sort(imp0[:32], descending=True).values)
    assert torch.equal(imp1[32:], torch.sort(imp0[32:], descending=True).values)
