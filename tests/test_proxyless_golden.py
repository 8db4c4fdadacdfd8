"""Conformance of the ProxylessNAS kind with the official OFA code (../shared/golden/ofa_proxyless_w1.3)
and the 16 official `ProxylessNASNets` specialised nets (../shared/reference/ofa/ofa_specialized)."""

from __future__ import annotations

import json

import pytest
import torch
from support.shared import SHARED, need_shared

from ofa_deploy.nn import OFASupernet, load_supernet
from ofa_deploy.space import Arch, ArchBatch, SpaceSpec, Subnet, arch_costs, cost_model, load_subnet
from ofa_deploy.space.checkpoint import checkpoint_space
from ofa_deploy.space.formats import from_net_config, to_net_config

pytestmark = pytest.mark.golden  # conformance with the official code (../shared)

GOLDEN = SHARED / "golden" / "ofa_proxyless_w1.3"
W13 = SpaceSpec(width_mult=1.3, kind="ofa_proxyless")


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return json.loads(need_shared(GOLDEN / "cases.json").read_text())["cases"]


@pytest.fixture(scope="module")
def io():
    return torch.load(need_shared(GOLDEN / "cases.pt"), map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def current_keys_checkpoint(tmp_path_factory):
    """The golden supernet renamed to the current upstream key style (`blocks.N.conv.*`)."""
    state = torch.load(need_shared(GOLDEN / "supernet.pth"), map_location="cpu", weights_only=True)["state_dict"]
    assert any(".mobile_inverted_conv." in k for k in state)  # the file is in the legacy style
    renamed = {k.replace(".mobile_inverted_conv.", ".conv."): v for k, v in state.items()}
    p = tmp_path_factory.mktemp("proxyless") / "current.pth"
    torch.save({"state_dict": renamed}, p)
    return p


def official_mflops(cfg: dict, image_size: int) -> float:
    """`ProxylessNASLatencyTable.count_flops_given_config`, transcribed from upstream."""
    def conv(out_size, cin, cout, k, groups):
        return cin * cout * k * k * out_size * out_size / groups

    flops = conv((image_size + 1) // 2, 3, cfg["first_conv"]["out_channels"], 3, 1)
    fsize = (image_size + 1) // 2
    for block in cfg["blocks"]:
        mb = dict(block["mobile_inverted_conv"] if "mobile_inverted_conv" in block else block["conv"])
        out_fz = int((fsize - 1) / mb["stride"] + 1)
        if mb["mid_channels"] is None:
            mb["mid_channels"] = round(mb["in_channels"] * mb["expand_ratio"])
        if mb["expand_ratio"] != 1:
            flops += conv(fsize, mb["in_channels"], mb["mid_channels"], 1, 1)
        flops += conv(out_fz, mb["mid_channels"], mb["mid_channels"], mb["kernel_size"], mb["mid_channels"])
        flops += conv(out_fz, mb["mid_channels"], mb["out_channels"], 1, 1)
        fsize = out_fz
    fm = cfg["feature_mix_layer"]
    flops += conv(fsize, fm["in_channels"], fm["out_channels"], 1, 1)
    flops += conv(1, cfg["classifier"]["in_features"], cfg["classifier"]["out_features"], 1, 1)
    return flops / 1e6


def test_space_of_the_golden_checkpoint_is_inferred_from_its_shapes(current_keys_checkpoint):
    for path in (GOLDEN / "supernet.pth", current_keys_checkpoint):
        spec = checkpoint_space(path)
        assert spec.kind == "ofa_proxyless" and spec.same_space(W13), spec.describe()
    assert W13.n_blocks == 21 and W13.n_stages == 6 and W13.stage_depth_choices[-1] == (1,)
    assert W13.stage_widths == (32, 56, 104, 128, 248, 416) and W13.last_channel == 1664


def test_costs_equal_the_official_counts(cases):
    batch = ArchBatch.from_archs([Arch.from_dict(c["arch"]) for c in cases])
    model = cost_model(W13)
    assert model.params(batch).tolist() == [c["subnet_params"] for c in cases]
    for m, c in zip(model.macs(batch), cases):
        assert m == round(c["mflops"] * 1e6), c["name"]
        assert official_mflops(c["net_config"], c["arch"]["image_size"]) == pytest.approx(c["mflops"], abs=1e-9)


def test_net_config_equals_the_official_one(cases):
    for c in cases:
        sub = Subnet(W13, Arch.from_dict(c["arch"]))
        assert to_net_config(sub) == c["net_config"], c["name"]
        back = from_net_config(c["net_config"], c["arch"]["image_size"])
        assert back.spec == W13 and back.arch == sub.arch.canonical(W13)
        legacy = to_net_config(sub, legacy=True)
        assert "mobile_inverted_conv" in legacy["blocks"][1]
        assert from_net_config(legacy, c["arch"]["image_size"]).arch == back.arch


@pytest.mark.parametrize("style", ["legacy", "current"])
def test_logits_match_the_official_code(style, cases, io, current_keys_checkpoint):
    path = GOLDEN / "supernet.pth" if style == "legacy" else current_keys_checkpoint
    net = load_supernet(path)
    assert net.spec.same_space(W13)
    for c in cases:
        arch = Arch.from_dict(c["arch"])
        x, want = io[c["name"]]["input"], io[c["name"]]["logits"]
        sub = net.extract(arch)
        assert sum(p.numel() for p in sub.parameters()) == c["subnet_params"]
        net.set_active(arch)
        with torch.no_grad():
            for got in (sub(x), net(x)):
                rel = float((got - want).abs().max() / want.abs().max())
                assert rel <= 1e-4, (c["name"], rel)


def test_the_16_official_proxyless_nets_import_with_exact_costs(specialized_dir):
    torch.manual_seed(0)
    net = OFASupernet(W13).eval()
    n = 0
    for d in sorted(specialized_dir.iterdir()):
        cfg = json.loads((d / "net.config").read_text())
        if cfg["name"] != "ProxylessNASNets":
            continue
        sub = load_subnet(d)
        r = json.loads((d / "run.config").read_text())["image_size"]
        assert sub.spec == W13 and sub.arch.r == r and sub.arch.d[-1] == 1, d.name
        params, macs = arch_costs(sub.spec, sub.arch)
        static = net.extract(sub.arch)
        assert params == sum(p.numel() for p in static.parameters()), d.name
        assert macs == round(official_mflops(cfg, r) * 1e6), d.name
        assert to_net_config(sub, legacy=True, dropout_rate=cfg["classifier"]["dropout_rate"]) == cfg, d.name
        n += 1
    assert n == 16


def test_subnet_show_works_on_every_official_specialised_net(cli, specialized_dir):
    dirs = sorted(p for p in specialized_dir.iterdir() if (p / "net.config").is_file())
    assert len(dirs) == 50
    kinds = set()
    for d in dirs:
        code, out, err = cli("subnet", "show", d, "--json")
        assert code == 0, (d.name, err)
        info = json.loads(out)
        sub = load_subnet(d)
        assert (info["params"], info["macs"]) == arch_costs(sub.spec, sub.arch)
        assert sum(s["params"] for s in info["stages"]) < info["params"]
        kinds.add(info["space"]["kind"])
    assert kinds == {"ofa_mbv3", "ofa_proxyless"}


def test_official_arch_dict_of_21_genes_is_the_released_proxyless_space():
    from ofa_deploy.space import parse_subnet

    sub = parse_subnet({"ks": [3] * 21, "e": [4] * 21, "d": [2, 3, 4, 2, 3, 1], "image_size": 160})
    assert sub.spec.kind == "ofa_proxyless" and sub.spec.width_mult == 1.3
    with pytest.raises(Exception, match="fixed depth 1"):
        Arch((3,) * 21, (4,) * 21, (2, 2, 2, 2, 2, 2), 160).validate(W13)


def official_latency(lut: dict, cfg: dict, image_size: int) -> float:
    """`ProxylessNASLatencyTable.predict_network_latency_given_config`, transcribed from upstream."""
    def query(*parts):
        return lut["-".join(parts)]["mean"]

    def shape(*dims):
        return "x".join(str(d) for d in dims)

    fsize = (image_size + 1) // 2
    total = query("Conv", f"input:{shape(image_size, image_size, 3)}",
                  f"output:{shape(fsize, fsize, cfg['first_conv']['out_channels'])}")
    for block in cfg["blocks"]:
        mb = block["mobile_inverted_conv"] if "mobile_inverted_conv" in block else block["conv"]
        out_fz = int((fsize - 1) / mb["stride"] + 1)
        total += query("expanded_conv", f"input:{shape(fsize, fsize, mb['in_channels'])}",
                       f"output:{shape(out_fz, out_fz, mb['out_channels'])}", f"expand:{mb['expand_ratio']}",
                       f"kernel:{mb['kernel_size']}", f"stride:{mb['stride']}",
                       f"idskip:{0 if block['shortcut'] is None else 1}")
        fsize = out_fz
    fm = cfg["feature_mix_layer"]
    total += query("Conv_1", f"input:{shape(fsize, fsize, fm['in_channels'])}",
                   f"output:{shape(fsize, fsize, fm['out_channels'])}")
    total += query("Logits", f"input:{shape(fsize, fsize, cfg['classifier']['in_features'])}",
                   f"output:{cfg['classifier']['out_features']}")
    return total


def test_lut_import_of_the_proxylessnas_mobile_table(cli, tmp_path, monkeypatch):
    """mobile_trim.yaml holds the w1.0 space at 224 with expand ratios 3 and 6: imported for that
    space, our block sum equals the official predictor on every subnet."""
    import numpy as np
    import yaml

    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.space import sample_archs

    src = need_shared(SHARED / "reference" / "ofa" / "proxylessnas" / "mobile_trim.yaml")
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    code, out, err = cli("lut", "import", src, "--device", "pixel1", "--kind", "ofa_proxyless", "--width", "1.0",
                         "--expands", "3,6", "--json")
    assert code == 0, err
    folder = json.loads(out)["folder"]
    assert folder.endswith("proxyless_w1.0_c1000_e36")
    table = LatencyTable.load(folder)
    spec = table.spec
    assert spec.kind == "ofa_proxyless" and spec.expand_list == (3, 6)
    lut = yaml.safe_load(src.read_text())
    batch = sample_archs(spec, 50, np.random.default_rng(0), resolutions=[224])
    got = table.predict(batch)
    for a, g in zip(batch.to_archs(), got):
        assert g == pytest.approx(official_latency(lut, to_net_config(Subnet(spec, a)), 224), rel=1e-12)
    code, _, err = cli("lut", "import", src, "--device", "pixel1", "--kind", "ofa_proxyless", "--width", "1.0")
    assert code == 2 and "expand:4" in err and "--expands" in err
