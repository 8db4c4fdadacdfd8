"""SpaceSpec, Arch validation, costs and file formats against the official artefacts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.shared import REFERENCE, need_shared

from ofa_deploy.errors import FormatError, SpaceError
from ofa_deploy.space import (
    Arch,
    ArchBatch,
    SpaceSpec,
    Subnet,
    arch_costs,
    cost_model,
    load_subnet,
    make_divisible,
    parse_subnet,
    sample_archs,
    save_subnet,
)
from ofa_deploy.space.formats import (
    from_mmrazor,
    from_net_config,
    from_official_arch,
    to_mmrazor,
    to_net_config,
    to_official_arch,
)

W12 = SpaceSpec(width_mult=1.2)
W10 = SpaceSpec(width_mult=1.0)


def test_make_divisible_matches_upstream_examples():
    assert make_divisible(16 * 1.2) == 24
    assert make_divisible(960 * 1.2) == 1152
    assert make_divisible(24 * 0.5) == 16
    assert make_divisible(3) == 8


def test_derived_widths_official_spaces():
    assert W10.stage_widths == (24, 40, 80, 112, 160) and W10.last_channel == 1280
    assert W12.first_conv_width == 24 and W12.stage_widths == (32, 48, 96, 136, 192)
    assert (W12.final_expand_width, W12.last_channel) == (1152, 1536)
    assert W12.n_blocks == 20 and W12.max_middle_widths[0] == 144


@pytest.mark.parametrize("bad, message", [
    ({"ks": [3] * 19, "e": [3] * 20, "d": [2] * 5, "r": 160}, "ks has 19"),
    ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 4, "r": 160}, "d has 4"),
    ({"ks": [4] + [3] * 19, "e": [3] * 20, "d": [2] * 5, "r": 160}, "kernel size 4"),
    ({"ks": [3] * 20, "e": [5] + [3] * 19, "d": [2] * 5, "r": 160}, "expand ratio 5"),
    ({"ks": [3] * 20, "e": [3] * 20, "d": [5] * 5, "r": 160}, "depth 5"),
    ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 162}, "resolution 162"),
    ({"ks": ["a"] * 20, "e": [3] * 20, "d": [2] * 5, "r": 160}, "integers"),
])
def test_invalid_arch_errors_say_what_is_wrong(bad, message):
    with pytest.raises(SpaceError, match=message):
        Arch.from_dict(bad).validate(W12)


def test_inactive_slots_are_not_validated_and_canonical_compares():
    a = Arch((3,) * 8 + (9,) * 12, (3,) * 20, (2, 2, 2, 2, 2), 160)
    with pytest.raises(SpaceError):
        a.validate(W12)
    ks = [3, 3, 99, 99] * 5
    b = Arch(tuple(ks), (3,) * 20, (2,) * 5, 160).validate(W12)
    assert b.canonical(W12) == Arch((3,) * 20, (3,) * 20, (2,) * 5, 160)


def test_costs_equal_golden(golden_cases):
    archs = [Arch.from_dict(c["arch"]) for c in golden_cases]
    batch = ArchBatch.from_archs(archs)
    model = cost_model(W12)
    assert model.params(batch).tolist() == [c["subnet_params"] for c in golden_cases]
    macs = model.macs(batch)
    for m, c in zip(macs, golden_cases):
        assert m == round(c["mflops"] * 1e6), c["name"]


def test_net_config_equals_golden(golden_cases):
    for c in golden_cases:
        sub = Subnet(W12, Arch.from_dict(c["arch"]))
        assert to_net_config(sub) == c["net_config"], c["name"]
        back = from_net_config(c["net_config"], c["arch"]["image_size"])
        assert back.spec == W12
        assert back.arch == sub.arch.canonical(W12)


def test_all_specialized_mobilenetv3_configs_import(specialized_dir):
    n = 0
    for d in sorted(specialized_dir.iterdir()):
        cfg = json.loads((d / "net.config").read_text())
        if cfg["name"] != "MobileNetV3":  # ProxylessNASNets: tests/test_proxyless_golden.py
            assert load_subnet(d).spec.kind == "ofa_proxyless"
            continue
        sub = load_subnet(d)
        run = json.loads((d / "run.config").read_text())
        assert sub.arch.r == run["image_size"]
        assert sub.spec.width_mult in (1.0, 1.2)
        # The regenerated net.config describes the same network (blocks as the original's).
        again = to_net_config(sub)
        orig_blocks = [b.get("conv") or b.get("mobile_inverted_conv") for b in cfg["blocks"]]
        for ours, theirs in zip(again["blocks"], orig_blocks):
            for key in ("in_channels", "out_channels", "kernel_size", "stride", "expand_ratio", "use_se"):
                assert ours["conv"][key] == theirs[key], (d.name, key)
        assert len(again["blocks"]) == len(orig_blocks)
        n += 1
    assert n == 34


@pytest.mark.parametrize("lat", ["22", "31"])
def test_mmrazor_equals_official_note8(lat, specialized_dir):
    mm = load_subnet(need_shared(REFERENCE / "mmrazor" / f"OFA_SUBNET_NOTE8_LAT{lat}.yaml"))
    net_id = {"22": "note8_lat-22ms_top1-70.4_finetune-25", "31": "note8_lat-31ms_top1-72.8_finetune-25"}[lat]
    off = load_subnet(specialized_dir / net_id)
    assert mm.spec == off.spec and mm.arch == off.arch
    params, macs = arch_costs(off.spec, off.arch)
    expected = {"22": (4.30, 67.2), "31": (4.60, 100.5)}[lat]
    assert round(params / 1e6, 2) == expected[0]
    assert round(macs / 1e6, 1) == expected[1]


# ---- round trips (hypothesis) ---------------------------------------------------------------
def archs(spec: SpaceSpec, canonical: bool = False):
    nb = spec.n_blocks

    def build(ks, e, d, r):
        a = Arch(tuple(ks), tuple(e), tuple(d), r)
        return a.canonical(spec) if canonical else a

    return st.builds(build, st.lists(st.sampled_from(spec.ks_list), min_size=nb, max_size=nb),
                     st.lists(st.sampled_from(spec.expand_list), min_size=nb, max_size=nb),
                     st.lists(st.sampled_from(spec.depth_list), min_size=5, max_size=5),
                     st.sampled_from(spec.resolutions))


@settings(max_examples=60, deadline=None)
@given(archs(W12))
def test_roundtrip_ours_and_official_dict(a):
    sub = Subnet(W12, a, {"predicted_acc": 0.8})
    assert from_official_arch(to_official_arch(sub), W12).arch == a
    tutorial = {"ks": list(a.ks), "e": list(a.e), "d": list(a.d), "r": [a.r]}
    assert parse_subnet(tutorial, spec=W12).arch == a
    from ofa_deploy.space.formats import from_ours, to_ours

    back = from_ours(json.loads(json.dumps(to_ours(sub))))
    assert back.arch == a and back.spec == W12 and back.meta == sub.meta


@settings(max_examples=40, deadline=None)
@given(archs(W10, canonical=True), st.sampled_from(["net-config", "mmrazor"]))
def test_roundtrip_net_config_and_mmrazor(a, fmt):
    sub = Subnet(W10, a)
    back = from_net_config(to_net_config(sub), a.r) if fmt == "net-config" else from_mmrazor(to_mmrazor(sub))
    assert back.arch == a and back.spec == W10


@settings(max_examples=20, deadline=None)
@given(archs(W12), st.sampled_from([".json", ".yaml"]))
def test_save_load_file(tmp_path_factory, a, suffix):
    p = tmp_path_factory.mktemp("sub") / f"s{suffix}"
    save_subnet(Subnet(W12, a), p)
    assert load_subnet(p).arch == a


def test_batch_costs_match_single_and_sampling_stays_in_space():
    rng = np.random.default_rng(0)
    batch = sample_archs(W10, 200, rng)
    model = cost_model(W10)
    p, m = model.params(batch), model.macs(batch)
    p2, m2 = model.params_and_macs(batch)
    assert np.array_equal(p, p2) and np.array_equal(m, m2)
    for i in range(0, 200, 37):
        a = batch.to_archs()[i].validate(W10)
        assert arch_costs(W10, a) == (p[i], m[i])


def test_load_subnet_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FormatError, match="neither valid JSON nor YAML"):
        load_subnet(tmp_path / "bad.json")
    (tmp_path / "other.yaml").write_text("foo: 1\n")
    with pytest.raises(FormatError, match="unrecognised subnet format"):
        load_subnet(tmp_path / "other.yaml")
    with pytest.raises(FormatError, match="no such file"):
        load_subnet(tmp_path / "missing.json")
