"""ResNet50 through the tool on a scaled-down space with random weights: `profile` measures our own
block keys, the table predicts block sums exactly, `latency validate` times sampled subnets end to
end, `export` writes a verified ONNX, `latency predict` reads its subnet file; `search` says in one
line that it does not cover the kind yet."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ofa_deploy.latency import LatencyTable
from ofa_deploy.latency.resnet50_keys import resnet_arch_keys, resnet_space_keys
from ofa_deploy.nn.resnet50 import OFAResNet50, save_resnet_supernet
from ofa_deploy.space import Subnet, save_subnet
from ofa_deploy.space.resnet50 import ResNet50Spec, middle_resnet_arch, sample_resnet_archs

SPEC = ResNet50Spec(stage_base_widths=(16, 32, 48, 64), n_classes=10, resolutions=(32, 48))


@pytest.fixture(scope="module")
def supernet(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rn50") / "rn.pt"
    return save_resnet_supernet(OFAResNet50(SPEC).eval(), path)


def test_profile_then_export(cli, supernet, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))  # its records stay out of other tests' way
    table_dir = tmp_path / "tbl"
    code, out, err = cli("profile", "--supernet", supernet, "--resolutions", "32", "--sessions", "1",
                         "--max-runs", "3", "--out", table_dir, "--json")
    assert code == 0, err
    table = LatencyTable.load(table_dir)
    assert table.spec == SPEC and table.resolutions == (32,)
    assert {r.key for r in table.rows} == set(resnet_space_keys(SPEC, 32))
    batch = sample_resnet_archs(SPEC, 50, np.random.default_rng(0), [32])
    direct = [sum(table.lookup(k, 32) for k in resnet_arch_keys(SPEC, a)) for a in batch.to_archs()]
    assert np.allclose(table.predict(batch), direct, rtol=1e-12)

    code, _, err = cli("latency", "validate", "--supernet", supernet, "--table", table_dir, "-n", "3",
                       "--sessions", "1", "--out", tmp_path / "val")
    assert code == 0, err
    assert len((tmp_path / "val" / "validation.csv").read_text().splitlines()) == 4  # header + 3 subnets

    code, _, err = cli("search", "--supernet", supernet, "--flops", "5M", "--table", table_dir)
    assert code == 2 and "search works on MobileNet-family spaces" in err and "\n" not in err.strip()

    sub = save_subnet(Subnet(SPEC, middle_resnet_arch(SPEC, 32)), tmp_path / "s.json") or tmp_path / "s.json"
    onnx = tmp_path / "s.onnx"
    code, out, err = cli("export", "--format", "onnx", "--subnet", sub, "--supernet", supernet, "--no-recalibrate",
                         "--verify-images", "8", "--out", onnx, "--json")
    assert code == 0, err
    report = json.loads(out)
    code, out, err = cli("latency", "predict", sub, "--table", table_dir)
    assert code == 0 and "ms on cpu" in out, err
    assert onnx.is_file() and report["verification"]["passed"]
    assert report["subnet"]["space"]["kind"] == "ofa_resnet50"
