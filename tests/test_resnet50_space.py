"""The OFA ResNet50 space without reference data: validation messages, round trips, vectorised
costs against the per-arch form, the predictor encoding's structure, and the small supernet."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ofa_deploy.errors import FormatError, SpaceError
from ofa_deploy.nn.resnet50 import OFAResNet50
from ofa_deploy.space.resnet50 import (
    ResNet50Spec,
    ResNetArch,
    ResNetBatch,
    ResNetEncoder,
    from_net_config,
    largest_resnet_arch,
    resnet_arch_costs,
    resnet_cost_model,
    sample_resnet_archs,
    smallest_resnet_arch,
    to_net_config,
)

SPEC = ResNet50Spec()
GOOD = {"d": [2, 1, 0, 2, 1], "e": [0.25] * 18, "w": [0, 1, 2, 1, 0, 2], "image_size": 160}


def arch(**changes) -> ResNetArch:
    return ResNetArch.from_dict({**GOOD, **changes})


@pytest.mark.parametrize(("changes", "message"), [
    ({"d": [2, 1, 0, 2]}, "d has 4 values; this space needs 5"),
    ({"e": [0.25] * 17}, "e has 17 expand ratios; this space needs 18"),
    ({"w": [0] * 4}, "w has 4 width indices; this space needs 6"),
    ({"d": [1, 1, 0, 2, 1]}, r"d\[0\] = 1 is not an input-stem choice: give 2 .* or 0"),
    ({"d": [2, 3, 0, 2, 1]}, "stage 1 depth 3 is not in the space's depths"),
    ({"w": [0, 1, 3, 1, 0, 2]}, r"w\[2\] = 3 is not a width index: give 0..2"),
    ({"w": [0, -1, 2, 1, 0, 2]}, r"w\[1\] = -1 is not a width index"),
    ({"e": [0.3] + [0.25] * 17}, "block 0 expand ratio 0.3 is not in the space's expand ratios"),
    ({"image_size": 250}, "resolution 250 is not in the space's resolutions"),
])
def test_bad_archs_say_what_is_wrong(changes, message):
    with pytest.raises(SpaceError, match=message):
        arch(**changes).validate(SPEC)


@pytest.mark.parametrize("bad", [
    {"d": "22222"}, {"d": [2, 1.5, 0, 2, 1]}, {"w": [True, 1, 2, 1, 0, 2]}, {"e": ["x"] * 18},
    {"e": [float("nan")] * 18}, {"image_size": [160, 192]},
])
def test_malformed_fields_are_space_errors(bad):
    with pytest.raises(SpaceError):
        arch(**bad)


def test_missing_keys_and_non_mappings():
    with pytest.raises(SpaceError, match="missing w"):
        ResNetArch.from_dict({"d": GOOD["d"], "e": GOOD["e"], "image_size": 160})
    with pytest.raises(SpaceError, match="no resolution"):
        ResNetArch.from_dict({k: v for k, v in GOOD.items() if k != "image_size"})
    with pytest.raises(SpaceError, match="must be a mapping"):
        ResNetArch.from_dict([1, 2])


def test_inactive_slots_are_free_and_canonical_forms_compare_equal():
    # Stage 2 (depth 0) runs 2 of its 4 slots: slots 6 and 7 may hold anything (upstream writes 0).
    e = list(GOOD["e"])
    e[6] = e[7] = 0
    a = arch(e=e).validate(SPEC)
    assert a.canonical(SPEC) == arch().canonical(SPEC)
    # The stem's first two convs have 24 channels at width 0.65 and 0.8: w[0] = 0 and 1 are one subnet.
    assert SPEC.stem_mid_widths == (24, 24, 32)
    assert arch(w=[1, 1, 2, 1, 0, 2]).canonical(SPEC) == arch().canonical(SPEC)
    assert to_net_config(SPEC, arch(w=[1, 1, 2, 1, 0, 2])) == to_net_config(SPEC, arch())
    # Values read from a file with rounding noise snap to the choice.
    assert arch(e=[0.25000000000001] * 18).validate(SPEC).e == (0.25,) * 18


def test_spec_validation():
    with pytest.raises(SpaceError, match="stage_base_widths needs 4"):
        ResNet50Spec(stage_base_widths=(256, 512, 1024))
    with pytest.raises(SpaceError, match="share"):
        ResNet50Spec(stage_base_widths=(64, 512, 1024, 2048))  # stage 1 widths = the stem's
    with pytest.raises(SpaceError, match="unknown ofa_resnet50 space field"):
        ResNet50Spec.from_dict({"kind": "ofa_resnet50", "width_mult": 1.0})
    assert ResNet50Spec.from_dict(SPEC.to_dict()) == SPEC
    assert ResNet50Spec.from_dict({"kind": "ofa_resnet50", "stage_base_widths": [112, 224, 448, 896]}).stage_widths[0] \
        == (72, 88, 112)


def test_stem_skip_and_depth_shape_the_net_config():
    cfg = to_net_config(SPEC, arch(d=[0, 0, 0, 0, 0]))
    assert [layer["name"] for layer in cfg["input_stem"]] == ["ConvLayer", "ConvLayer"]
    assert len(cfg["blocks"]) == 10
    cfg = to_net_config(SPEC, largest_resnet_arch(SPEC))
    assert [layer["name"] for layer in cfg["input_stem"]] == ["ConvLayer", "ResidualBlock", "ConvLayer"]
    assert len(cfg["blocks"]) == 18 and cfg["classifier"]["in_features"] == 2048


def test_net_config_round_trip_and_rejections():
    rng = np.random.default_rng(0)
    for a in sample_resnet_archs(SPEC, 50, rng).to_archs():
        cfg = to_net_config(SPEC, a)
        assert from_net_config(copy.deepcopy(cfg), image_size=a.r) == (SPEC, a.canonical(SPEC))
    cfg = to_net_config(SPEC, arch())
    with pytest.raises(FormatError, match="not 'ResNets'"):
        from_net_config({**cfg, "name": "MobileNetV3"})
    edited = copy.deepcopy(cfg)
    edited["blocks"][3]["mid_channels"] = 100
    with pytest.raises(FormatError, match=r"blocks\[3\] has mid_channels = 100"):
        from_net_config(edited)
    edited = copy.deepcopy(cfg)
    edited["blocks"][0]["out_channels"] = 200
    with pytest.raises(FormatError, match="stage 1 has 200 channels"):
        from_net_config(edited)
    with pytest.raises(FormatError, match="missing field 'input_stem'"):
        from_net_config({"name": "ResNets", "classifier": {"out_features": 1000}})
    for hostile in ({"name": "ResNets", "input_stem": [1, 2, 3], "blocks": [], "classifier": {"out_features": 10}},
                    {"name": "ResNets", "input_stem": [], "blocks": [], "classifier": {"out_features": "ten"}},
                    {"name": "ResNets", "input_stem": "abc", "blocks": None, "classifier": {"out_features": 10}}):
        with pytest.raises(FormatError, match="not an OFA ResNets net.config|input_stem has"):
            from_net_config(hostile)


def test_vectorised_costs_equal_one_by_one():
    rng = np.random.default_rng(1)
    batch = sample_resnet_archs(SPEC, 300, rng)
    model = resnet_cost_model(SPEC)
    params, macs = model.params_and_macs(batch)
    assert np.array_equal(params, model.params(batch)) and np.array_equal(macs, model.macs(batch))
    for i in range(0, 300, 37):
        assert resnet_arch_costs(SPEC, batch.to_archs()[i]) == (params[i], macs[i])
    small, large = smallest_resnet_arch(SPEC), largest_resnet_arch(SPEC)
    assert resnet_arch_costs(SPEC, small)[0] < params.min() <= params.max() < resnet_arch_costs(SPEC, large)[0]


def test_batch_checks_every_row():
    batch = ResNetBatch.from_archs([arch(), arch()])
    bad = ResNetBatch(batch.d, batch.e, batch.w.copy(), batch.r)
    bad.w[1, 3] = 7
    with pytest.raises(SpaceError, match="width index"):
        resnet_cost_model(SPEC).params(bad)
    bad = ResNetBatch(batch.d, batch.e.copy(), batch.w, batch.r)
    bad.e[0, 0] = 0.5
    with pytest.raises(SpaceError, match="expand ratio"):
        resnet_cost_model(SPEC).macs(bad)
    with pytest.raises(SpaceError, match="need d of 5"):
        resnet_cost_model(SPEC).macs(ResNetBatch(batch.d[:, :4], batch.e, batch.w, batch.r))


def test_encoding_is_upstreams_layout():
    """ResNetArchEncoder: r one-hot, stem flag one-hot (index 1 when d[0] > 0), 6 width one-hots,
    18 expand one-hots with inactive slots all-zero (checked bit-exact against the official
    encoder on 500 archs when this was written)."""
    enc = ResNetEncoder(SPEC)
    assert enc.n_dim == 7 + 2 + 6 * 3 + 18 * 3
    rng = np.random.default_rng(2)
    batch = sample_resnet_archs(SPEC, 200, rng)
    f = enc.encode(batch)
    assert set(np.unique(f)) <= {0.0, 1.0}
    assert np.array_equal(f.sum(axis=1), 1 + 1 + 6 + batch.active_mask(SPEC).sum(axis=1))
    assert np.array_equal(f[:, 7 + (batch.d[:, 0] > 0)].diagonal(), np.ones(200))
    a = largest_resnet_arch(SPEC, 224)
    row = enc.encode(ResNetBatch.from_archs([a]))[0]
    assert row[6] == 1 and row[8] == 1  # r = 224 (last), stem kept
    assert all(row[9 + 3 * i + 2] == 1 for i in range(6))
    assert all(row[27 + 3 * i + 2] == 1 for i in range(18))
    with pytest.raises(SpaceError, match="not in the encoder's image sizes"):
        ResNetEncoder(SPEC, [224]).encode(ResNetBatch.from_archs([arch()]))


def test_small_supernet_extract_equals_forward():
    spec = ResNet50Spec(stage_base_widths=(16, 32, 48, 64), n_classes=10)
    net = OFAResNet50(spec).eval()
    x = torch.randn(2, 3, 64, 64)
    for a in sample_resnet_archs(spec, 4, np.random.default_rng(3), [64]).to_archs():
        with torch.no_grad():
            sub = net.extract(a)
            net.set_active(a)
            assert torch.allclose(sub(x), net(x), rtol=1e-5, atol=1e-5)
        assert sum(p.numel() for p in sub.parameters()) == resnet_arch_costs(spec, a)[0]
    with pytest.raises(SpaceError, match="e has 17"):
        net.set_active(arch(e=[0.25] * 17))
