"""A ProxylessNAS supernet through the whole tool: train (progressive shrinking) -> profile -> search
-> export, on a tiny space with small widths (seconds, no ../shared)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
import yaml

from ofa_deploy import paths
from ofa_deploy.predictor import MLP, OneHotEncoding, Predictor
from ofa_deploy.space import ArchBatch, SpaceSpec, middle_arch, sample_archs
from ofa_deploy.train.recipe import parse_recipe


def tiny_recipe():
    raw = yaml.safe_load(paths.shipped_recipe("tiny-synthetic").read_text())
    raw["space"]["kind"] = "ofa_proxyless"
    raw["name"] = "tiny-proxyless"
    return parse_recipe(raw, "tiny-proxyless")


def synthetic_predictor(spec: SpaceSpec) -> Predictor:
    rng = np.random.default_rng(0)
    enc = OneHotEncoding.for_space(spec, 16, 8, 2)
    sizes = [enc.n_features, 16, 1]
    ws = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in itertools.pairwise(sizes)]
    bs = [np.zeros(16), np.full(1, 0.5)]
    return Predictor(spec, enc, MLP(ws, bs), (16, 24), "synthetic", {"name": "tiny-proxyless"})


def test_tiny_space_structure():
    spec = tiny_recipe().space
    assert spec.kind == "ofa_proxyless" and spec.n_blocks == 5 * 2 + 1 and spec.n_stages == 6
    batch = sample_archs(spec, 64, np.random.default_rng(0))
    assert (batch.d[:, -1] == 1).all() and set(batch.d[:, :5].ravel().tolist()) == {1, 2}
    assert OneHotEncoding.from_dict(OneHotEncoding.for_space(spec).to_dict()).slots_per_stage == (2,) * 5 + (1,)


@pytest.mark.slow
def test_train_profile_search_export(cli, tmp_path, monkeypatch):
    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.train.progressive import Trainer

    torch.set_num_threads(1)
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(tiny_recipe(), tmp_path / "run")
    trainer.run()
    ends = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
            if '"phase_end"' in line]
    assert [e["phase"] for e in ends] == ["full", "kernel", "depth", "expand"]
    supernet = trainer.export(tmp_path / "supernet.pt")
    spec = load_supernet(supernet).spec
    assert spec.kind == "ofa_proxyless"
    predictor = synthetic_predictor(spec).save(tmp_path / "p.npz")

    code, _, err = cli("profile", "--device", "cpu", "--supernet", supernet, "--resolutions", "16,24",
                       "--sessions", "1", "--max-runs", "3", "--subnets", "12")
    assert code == 0, err
    folder = json.loads((tmp_path / "home" / "records" / "last_profile.json").read_text())["table"]
    assert "proxyless_" in str(folder)
    table = LatencyTable.load(folder)
    assert any(k.startswith("Logits-input:") for k in (r.key for r in table.rows))
    assert not any("AvgPool2D" in r.key or "-se:" in r.key for r in table.rows)
    budget = float(table.predict(ArchBatch.from_archs([middle_arch(spec, 24)]))[0])

    code, out, err = cli("search", "--supernet", supernet, "--predictor", predictor, "--device", "cpu",
                         "--latency", f"{budget:.4f}ms", "--no-verify", "--json")
    assert code == 0, err
    found = json.loads(out)
    assert found["supernet"]["space"]["kind"] == "ofa_proxyless"
    result = found["results"][0]
    assert result["latency_ms"] <= budget * 1.001 and result["arch"]["d"][-1] == 1
    code, out, err = cli("search", "--supernet", supernet, "--predictor", predictor, "--flops", "0.3M", "--json")
    assert code == 0, err
    assert json.loads(out)["results"][0]["flops"] <= 300_000

    code, out, err = cli("export", "--format", "onnx", "--verify-images", "8", "--no-recalibrate", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["passed"] and report["subnet"]["space"]["kind"] == "ofa_proxyless"


@pytest.mark.parametrize("fmt", ["json", "yaml", "official", "net-config"])
def test_subnet_files_carry_the_kind(fmt, tmp_path):
    from ofa_deploy.space import Subnet, load_subnet, save_subnet
    from ofa_deploy.space.formats import dump_subnet

    spec = SpaceSpec(width_mult=1.3, kind="ofa_proxyless")
    sub = Subnet(spec, middle_arch(spec, 224))
    p = tmp_path / f"s.{'yaml' if fmt == 'yaml' else 'json'}"
    p.write_text(dump_subnet(sub, fmt))
    back = load_subnet(p, spec=spec if fmt == "official" else None)
    assert back.spec == spec and back.arch.canonical(spec) == sub.arch.canonical(spec)
    assert save_subnet(sub, tmp_path / "t.json").exists()


def test_registry_of_kinds():
    from ofa_deploy.errors import FormatError, SpaceError
    from ofa_deploy.space import OFA_PROXYLESS, Subnet, get_kind, kind_of_net, kinds, register_kind
    from ofa_deploy.space.formats import dump_subnet

    assert [k.name for k in kinds()][:2] == ["ofa_mbv3", "ofa_proxyless"]
    assert kind_of_net("ProxylessNASNets") is OFA_PROXYLESS and kind_of_net("NoSuchNet") is None  # ResNets: ofa_resnet50
    assert register_kind(OFA_PROXYLESS) is OFA_PROXYLESS  # registering the same object again is a no-op
    with pytest.raises(SpaceError, match="unknown space kind 'nope'.*'ofa_proxyless'"):
        get_kind("nope")
    with pytest.raises(SpaceError, match="unknown space kind"):
        SpaceSpec.from_dict({"kind": "nope"})
    spec = SpaceSpec.from_dict({"kind": "ofa_proxyless", "width_mult": 1.3})
    assert spec.to_dict()["kind"] == "ofa_proxyless" and SpaceSpec.from_dict(spec.to_dict()) == spec
    assert not spec.same_space(SpaceSpec(width_mult=1.3))
    with pytest.raises(FormatError, match="MMRazor has no subnet format"):
        dump_subnet(Subnet(spec, middle_arch(spec, 224)), "mmrazor")
