"""Accuracy datasets (sample, measure, resume) and predictors fitted on them, on a tiny random supernet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ofa_deploy.errors import BadValueError, FormatError, SpaceError
from ofa_deploy.nn import OFAMobileNetV3, save_supernet
from ofa_deploy.predictor import (
    AccuracyDataset,
    DatasetBuilder,
    Predictor,
    fit_predictor,
    load_accuracy_dataset,
)
from ofa_deploy.predictor.dataset import COLUMNS, ROWS_NAME, sample_plan, space_size
from ofa_deploy.predictor.fit import encoding_for_space
from ofa_deploy.space import ArchBatch, SpaceSpec, sample_archs
from ofa_deploy.train import load_recipe

torch.set_num_threads(1)

TINY = load_recipe("tiny-synthetic").space  # w0.25, k3/5, e3/4, d1/2, r16/24, 4 classes, 1 channel
DEMO = SpaceSpec(width_mult=0.5, resolutions=(24, 28, 32), n_classes=10, in_channels=1)
FAST = {"val_images": 64, "bn_images": 32}


def _supernet(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    return save_supernet(OFAMobileNetV3(TINY), path, meta={"recipe": "tiny-synthetic"})


@pytest.fixture(scope="module")
def supernets(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("supernets")
    return _supernet(d / "a" / "supernet.pt", 0), _supernet(d / "b" / "supernet.pt", 1)


def _rows(folder: Path) -> list[str]:
    return (folder / ROWS_NAME).read_text().splitlines()[1:]


class _Stop(Exception):
    pass


def _stop_after(n: int):
    def progress(info: dict) -> None:
        if info["done"] >= n:
            raise _Stop

    return progress


def test_subnet_sequence_is_seeded_distinct_and_prefix_stable():
    ten = sample_plan(TINY, 10, 0)
    assert sample_plan(TINY, 4, 0) == ten[:4]
    assert len(set(ten)) == 10 and all(a == a.canonical(TINY) for a in ten)
    assert sample_plan(TINY, 10, 1) != ten
    assert {a.r for a in sample_plan(DEMO, 30, 0)} == {24, 28, 32}
    one = SpaceSpec(width_mult=0.25, ks_list=(3,), expand_list=(3,), depth_list=(1,), resolutions=(16, 24))
    assert space_size(one) == 2 and len(sample_plan(one, 2, 0)) == 2
    with pytest.raises(SpaceError, match="only 2 distinct subnets"):
        sample_plan(one, 3, 0)


def test_rows_are_appended_and_resumed_without_duplicates(supernets, tmp_path):
    out = tmp_path / "ds"
    first = DatasetBuilder(out, supernets[0], samples=12, **FAST)
    with pytest.raises(_Stop):
        first.run(_stop_after(5))
    partial = _rows(out)
    assert len(partial) == 5 and (out / "meta.json").exists()

    again = DatasetBuilder(out, supernets[0], samples=12, **FAST)
    assert again.remaining == list(range(5, 12))
    seen = []
    summary = again.run(lambda info: seen.append(info["index"]))
    assert seen == list(range(5, 12))  # nothing measured twice
    rows = _rows(out)
    assert rows[:5] == partial and [int(r.split(",")[0]) for r in rows] == list(range(12))
    assert summary["rows"] == 12 and summary["new"] == 7

    data = load_accuracy_dataset(out)
    assert len(data) == 12 and data.spec == TINY
    assert data.archs.to_archs() == sample_plan(TINY, 12, 0)
    assert ((data.accuracy >= 0) & (data.accuracy <= 1)).all() and (data.seconds > 0).all()
    assert data.meta["val_images"] == 64 and data.meta["bn_images"] == 32
    assert data.meta["dataset"]["name"] == "synthetic" and data.meta["dataset"]["split"] == "val"
    # A rerun with more samples extends the same sequence; a finished one has nothing to do.
    assert DatasetBuilder(out, supernets[0], samples=14, **FAST).remaining == [12, 13]
    assert DatasetBuilder(out, supernets[0], samples=12, **FAST).run()["new"] == 0


def test_half_written_last_line_is_dropped(supernets, tmp_path):
    out = tmp_path / "ds"
    DatasetBuilder(out, supernets[0], samples=4, **FAST).run()
    with open(out / ROWS_NAME, "a") as f:
        f.write("4,3 5 3")  # the process died in the middle of a line
    assert len(load_accuracy_dataset(out)) == 4  # readers ignore it
    builder = DatasetBuilder(out, supernets[0], samples=6, **FAST)
    assert builder.remaining == [4, 5]
    builder.run()
    rows = _rows(out)
    assert [int(r.split(",")[0]) for r in rows] == list(range(6))
    assert all(len(r.split(",")) == len(COLUMNS) for r in rows)


def test_rerun_with_other_supernet_or_settings_is_refused(supernets, tmp_path):
    out = tmp_path / "ds"
    DatasetBuilder(out, supernets[0], samples=3, **FAST).run()
    before = (out / ROWS_NAME).read_bytes(), (out / "meta.json").read_bytes()
    for kwargs, field in (({"supernet_path": supernets[1]}, "supernet_sha256"),
                          ({"bn_images": 16}, "bn_images"), ({"val_images": 32}, "val_images"),
                          ({"seed": 1}, "seed")):
        args = {"supernet_path": supernets[0], "samples": 3, **FAST, **kwargs}
        with pytest.raises(FormatError, match=f"other settings: {field}.*another --out"):
            DatasetBuilder(out, **args)
    assert ((out / ROWS_NAME).read_bytes(), (out / "meta.json").read_bytes()) == before
    with open(out / ROWS_NAME, "a") as f:
        f.write("7,x,y,z,16,1,64,0.1,0.5\n")
    with pytest.raises(FormatError, match="line 5 is malformed"):
        load_accuracy_dataset(out)


def _synthetic_dataset(spec: SpaceSpec, n: int, seed: int = 0) -> AccuracyDataset:
    """Rows whose accuracy is a smooth function of the arch plus noise (no supernet needed)."""
    archs = ArchBatch.from_archs(sample_plan(spec, n, seed))
    x = encoding_for_space(spec).encode(archs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    acc = 0.8 + 0.1 * np.tanh(x @ rng.uniform(0, 0.05, x.shape[1])) + rng.normal(0, 0.002, n)
    meta = {"space": spec.to_dict(), "supernet": "/x/demo/supernet.pt", "supernet_sha256": "0" * 64,
            "dataset": {"name": "fashion-mnist"}, "val_images": 5000, "bn_images": 2000}
    return AccuracyDataset(Path("/x/accuracy-demo"), meta, np.arange(n), archs, acc, np.ones(n))


def test_fit_saves_a_predictor_that_reproduces_sklearn(tmp_path):
    data = _synthetic_dataset(DEMO, 150)
    result = fit_predictor(data, holdout=0.2, seed=3, hidden=(64, 48))
    enc = result.predictor.encoding
    assert (enc.r_start, enc.r_step, enc.r_buckets) == (24, 4, 3)
    path = result.predictor.save(tmp_path / "p.npz")
    back = Predictor.load(path)
    batch = sample_archs(DEMO, 500, np.random.default_rng(9))  # mostly subnets it never saw
    want = result.estimator.predict(enc.encode(batch, dtype=np.float64))
    np.testing.assert_allclose(back.predict(batch), want, rtol=0, atol=1e-6)
    assert back.resolutions == (24, 28, 32) and back.target == "fashion-mnist_val_top1"
    assert [w.shape for w in back.model.weights] == [(64, enc.n_features), (48, 64), (1, 48)]
    # Held-out rows are disjoint from the fitted ones; metrics on them are in the file's meta.
    assert not set(result.train_rows) & set(result.holdout_rows) and len(result.holdout_rows) == 30
    m = result.holdout_metrics
    assert back.meta["holdout_rows"] == 30
    assert back.meta["holdout_rmse_points"] == pytest.approx(m["rmse_points"], abs=1e-4)
    assert back.meta["holdout_kendall_tau"] == pytest.approx(m["kendall_tau"], abs=1e-4)
    assert back.meta["holdout_spearman"] == pytest.approx(m["spearman"], abs=1e-4)
    assert m["kendall_tau"] > 0.3 and back.meta["supernet"] == "demo"
    # Same seed, same predictor.
    again = fit_predictor(data, holdout=0.2, seed=3, hidden=(64, 48)).predictor
    np.testing.assert_array_equal(again.predict(batch), back.predict(batch))


def test_fit_errors():
    data = _synthetic_dataset(DEMO, 10)
    with pytest.raises(BadValueError, match=r"--holdout must be a finite number in \[0, 1\)"):
        fit_predictor(data, holdout=1.0)
    with pytest.raises(FormatError, match="too few"):
        fit_predictor(data, holdout=0.1)
    assert fit_predictor(data, holdout=0, hidden=(8,)).holdout_metrics is None


def test_fit_on_a_measured_dataset(supernets, tmp_path):
    out = tmp_path / "ds"
    DatasetBuilder(out, supernets[0], samples=20, **FAST).run()
    result = fit_predictor(load_accuracy_dataset(out), holdout=0.25, hidden=(16,))
    path = result.predictor.save(tmp_path / "p.npz")
    pred = Predictor.load(path)
    batch = sample_archs(TINY, 7, np.random.default_rng(0))
    assert pred.predict(batch).shape == (7,)
    assert set(result.holdout_metrics) == {"n", "rmse_points", "kendall_tau", "spearman"}
    assert pred.meta["holdout_rows"] == 5 and pred.meta["supernet"] == "a"


def test_cli_dataset_then_fit(cli, supernets, tmp_path):
    out = tmp_path / "ds"
    code, stdout, err = cli("predictor", "dataset", "--supernet", supernets[0], "--samples", 8, "--out", out,
                            "--val-images", 64, "--bn-images", 32, "--threads", 1, "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert (info["rows"], info["new"], info["dataset"]["name"]) == (8, 8, "synthetic")
    code, stdout, err = cli("predictor", "dataset", "--supernet", supernets[0], "--samples", 8, "--out", out,
                            "--val-images", 64, "--bn-images", 32)
    assert code == 0, err
    assert "8 of 8 subnets measured, 0 to go" in " ".join(stdout.split())
    code, stdout, err = cli("predictor", "fit", out, "--out", tmp_path / "p.npz", "--hidden", "8",
                            "--holdout", "0.5", "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["metrics"]["holdout"]["n"] == 4 and info["meta"]["holdout_rows"] == 4
    code, stdout, err = cli("predictor", "fit", out, "--out", tmp_path / "q.npz", "--hidden", "8",
                            "--holdout", "0.5")
    assert code == 0, err
    assert "held out" in stdout and "Kendall tau" in stdout and (tmp_path / "q.npz").exists()


@pytest.mark.parametrize("args, message", [
    (["dataset", "--samples", "0"], "--samples must be at least 1"),
    (["dataset", "--supernet", "nope.pt"], "no such file"),
    (["dataset", "--bn-images", "-3"], "--bn-images must be at least 1"),
    (["fit", "nowhere", "--out", "p.npz"], "no such dataset folder"),
    (["fit", "DS", "--out", "p.npz", "--holdout", "1.5"], "--holdout"),
    (["fit", "DS", "--out", "p.npz", "--hidden", "4x4"], "--hidden"),
    (["dataset", "--supernet", "OTHER", "--out", "DS", "--samples", "2"], "other settings: supernet_sha256"),
])
def test_cli_bad_input_exits_2_with_one_line(cli, supernets, tmp_path, args, message):
    ds = tmp_path / "DS"
    DatasetBuilder(ds, supernets[0], samples=2, **FAST).run()
    args = [str(ds) if a == "DS" else str(supernets[1]) if a == "OTHER" else a for a in args]
    code, _, err = cli("predictor", *args)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    assert not (tmp_path / "p.npz").exists()


def test_data_comes_from_the_training_recipe_or_must_be_given(tmp_path):
    torch.manual_seed(0)
    path = save_supernet(OFAMobileNetV3(TINY), tmp_path / "x.pt", meta={"recipe": "lost-recipe"})
    with pytest.raises(FormatError, match="give --dataset"):
        DatasetBuilder(tmp_path / "ds", path, samples=2, **FAST)
    builder = DatasetBuilder(tmp_path / "ds", path, samples=2, dataset_kind="synthetic", **FAST)
    assert builder.meta["dataset"]["kind"] == "synthetic"


def test_predictor_package_imports_neither_torch_nor_sklearn():
    code = ("import sys, ofa_deploy.predictor; "
            "print(sorted(m for m in ('torch', 'sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
