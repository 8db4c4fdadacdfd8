"""ResNet50 through the tool on a scaled-down space with random weights: `profile` measures our own
block keys, the table predicts block sums exactly, `latency validate` times sampled subnets end to
end, `search` finds subnets under a latency and a FLOPs budget (FLOPs alone without a table) with a
random-weight predictor of the kind's encoding, `export` writes a verified ONNX of the searched
subnet, `latency predict` reads its subnet file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ofa_deploy.latency import LatencyTable
from ofa_deploy.latency.resnet50_keys import resnet_arch_keys, resnet_space_keys
from ofa_deploy.nn.checkpoint import save_supernet
from ofa_deploy.nn.resnet50 import OFAResNet50
from ofa_deploy.predictor import MLP, Predictor
from ofa_deploy.predictor.fit import encoding_for_space
from ofa_deploy.space import cost_model, load_subnet
from ofa_deploy.space.resnet50 import ResNet50Spec, ResNetBatch, sample_resnet_archs

SPEC = ResNet50Spec(stage_base_widths=(16, 32, 48, 64), n_classes=10, resolutions=(32, 48))


@pytest.fixture(scope="module")
def supernet(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("rn50") / "rn.pt"
    return save_supernet(OFAResNet50(SPEC).eval(), path)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    """A random MLP on the kind's one-hot encoding (upstream `ResNetArchEncoder`), as a file."""
    enc = encoding_for_space(SPEC)
    rng = np.random.default_rng(0)
    mlp = MLP([rng.normal(size=(32, enc.n_features)) * 0.3, rng.normal(size=(1, 32)) * 0.3],
              [np.zeros(32), np.full(1, 0.5)])
    return Predictor(SPEC, enc, mlp, SPEC.resolutions).save(tmp_path_factory.mktemp("pred") / "p.npz")


def test_profile_then_export(cli, supernet, predictor, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))  # its records stay out of other tests' way
    table_dir = tmp_path / "tbl"
    code, out, err = cli("profile", "--supernet", supernet, "--resolutions", "32", "--sessions", "1",
                         "--max-runs", "3", "--subnets", "12", "--out", table_dir, "--json")
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

    lat = float(np.median(table.predict(batch)))
    fast = ("--population", "20", "--generations", "30")
    code, out, err = cli("search", "--supernet", supernet, "--predictor", predictor, "--table", table_dir,
                         "--latency", f"{lat}ms", "--no-verify", "--out", tmp_path / "lat.json", "--json", *fast)
    assert code == 0, err
    found = load_subnet(tmp_path / "lat.json")
    one = ResNetBatch.from_archs([found.arch])
    assert found.spec == SPEC and found.arch.r == 32
    assert table.predict(one)[0] <= lat * (1 + 1e-9)
    assert json.loads(out)["results"][0]["flops"] == int(cost_model(SPEC).macs(one)[0])

    flops = float(np.median(cost_model(SPEC).macs(sample_resnet_archs(SPEC, 200, np.random.default_rng(1)))))
    code, out, err = cli("search", "--supernet", supernet, "--predictor", predictor, "--flops", str(flops),
                         "--out", tmp_path / "flops.json", "--json", *fast)
    assert code == 0, err
    by_flops = load_subnet(tmp_path / "flops.json")
    assert by_flops.arch.r in SPEC.resolutions  # no table: every resolution of the space and predictor
    assert cost_model(SPEC).macs(ResNetBatch.from_archs([by_flops.arch]))[0] <= flops
    assert by_flops.meta["predicted"]["latency_ms"] is None

    code, _, err = cli("search", "--supernet", supernet, "--predictor", predictor, "--flops", "1k")
    assert code == 2 and "smallest achievable" in err and "\n" not in err.strip()

    sub = tmp_path / "lat.json"
    onnx = tmp_path / "s.onnx"
    code, out, err = cli("export", "--format", "onnx", "--subnet", sub, "--supernet", supernet, "--no-recalibrate",
                         "--verify-images", "8", "--out", onnx, "--json")
    assert code == 0, err
    report = json.loads(out)
    code, out, err = cli("latency", "predict", sub, "--table", table_dir)
    assert code == 0 and "ms on cpu" in out, err
    assert onnx.is_file() and report["verification"]["passed"]
    assert report["subnet"]["space"]["kind"] == "ofa_resnet50"


def test_predictor_dataset_then_fit_then_search(cli, tmp_path, monkeypatch):
    """`predictor dataset` measures ResNet50 subnets (rows name d, e, w), `predictor fit` fits the
    kind's encoding, and `search` reads the fitted predictor back."""
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    torch.manual_seed(1)
    spec = ResNet50Spec(stage_base_widths=(16, 32, 48, 64), n_classes=4, in_channels=1, resolutions=(32, 48))
    net = save_supernet(OFAResNet50(spec).eval(), tmp_path / "rn" / "supernet.pt",
                               meta={"recipe": "tiny-synthetic"})
    out = tmp_path / "ds"
    code, stdout, err = cli("predictor", "dataset", "--supernet", net, "--samples", 10, "--out", out,
                            "--val-images", 32, "--bn-images", 16, "--threads", 1, "--json")
    assert code == 0, err
    assert json.loads(stdout)["rows"] == 10
    rows = (out / "rows.csv").read_text().splitlines()
    assert rows[0] == "index,d,e,w,r,correct,images,accuracy,seconds" and len(rows) == 11
    code, stdout, err = cli("predictor", "fit", out, "--out", tmp_path / "p.npz", "--hidden", "8",
                            "--holdout", "0.3", "--json")
    assert code == 0, err
    pred = Predictor.load(tmp_path / "p.npz")
    assert pred.spec == spec and pred.encoding.kind == "resnet_onehot"
    from ofa_deploy.predictor import load_accuracy_dataset

    data = load_accuracy_dataset(out)
    assert np.array_equal(pred.encoding.encode(data.archs), encoding_for_space(spec).encode(data.archs))
    code, stdout, err = cli("search", "--supernet", net, "--predictor", tmp_path / "p.npz", "--params", "1M",
                            "--population", "12", "--generations", "5", "--out", tmp_path / "s.json", "--json")
    assert code == 0, err
    assert json.loads(stdout)["results"][0]["params"] <= 1e6


RECIPE = """
name: tiny-resnet50
space: {kind: ofa_resnet50, stage_base_widths: [16, 32, 48, 64], n_classes: 4, in_channels: 1,
        resolutions: [32, 40]}
data: {kind: synthetic, val_size: 128}
batch_size: 16
steps_per_epoch: 2
bn_images: 32
eval_images: 32
phases:
  - {name: full, epochs: 1, lr: 0.05}
  - {name: depth, epochs: 1, lr: 0.02, depth: [0, 1, 2], subnets_per_step: 2, kd: 1.0}
  - {name: expand, epochs: 1, lr: 0.02, depth: [0, 1, 2], expand: [0.2, 0.25, 0.35], subnets_per_step: 2,
     kd: 1.0, sort_channels: 0}
  - {name: width, epochs: 1, lr: 0.02, depth: [0, 1, 2], expand: [0.2, 0.25, 0.35], width: [0.65, 0.8, 1.0],
     subnets_per_step: 2, kd: 1.0, sort_channels: 2}
"""


def test_train_progressive_shrinking_depth_expand_width(cli, tmp_path):
    """`train` on ResNet50: upstream's phases (full, elastic depth, expand, width), a supernet that
    loads back with its space, and the phases' subnets among their own choices."""
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.space.genes import gene_space
    from ofa_deploy.train.recipe import load_recipe

    (tmp_path / "r.yaml").write_text(RECIPE)
    recipe = load_recipe(tmp_path / "r.yaml")
    assert [p.width for p in recipe.phases] == [[1.0], [1.0], [1.0], [0.65, 0.8, 1.0]]
    genes = gene_space(recipe.space)
    rng = np.random.default_rng(0)
    depth = [genes.sample_phase_arch(recipe.phases[1], rng, 32) for _ in range(50)]
    assert {a.w for a in depth} == {(2,) * 6} and {a.e for a in depth} == {(0.35,) * recipe.space.n_blocks}
    assert {a.d[0] for a in depth} == {0, 2} and {v for a in depth for v in a.d[1:]} == {0, 1, 2}
    width = [genes.sample_phase_arch(recipe.phases[3], rng, 32) for _ in range(50)]
    assert {v for a in width for v in a.w} == {0, 1, 2}
    (tmp_path / "bad.yaml").write_text(RECIPE.replace("lr: 0.05}", "lr: 0.05, ks: [3]}"))
    code, _, err = cli("train", "--recipe", tmp_path / "bad.yaml", "--out", tmp_path / "bad")
    assert code == 2 and "no such dimension" in err and "\n" not in err.strip()

    code, out, err = cli("train", "--recipe", tmp_path / "r.yaml", "--out", tmp_path / "run", "--threads", "1",
                         "--json")
    assert code == 0, err
    net = load_supernet(tmp_path / "run" / "supernet.pt")
    assert net.spec == recipe.space
    phases = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [p["phase"] for p in phases if p["event"] == "phase_end"] == ["full", "depth", "expand", "width"]
    final = json.loads(out)["final"]
    assert final["phase"] == "width" and {"largest", "middle", "smallest"} <= set(final)
