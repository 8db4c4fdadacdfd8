"""Progressive shrinking, resume, data-parallel training and BN recalibration on small data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support.ports import free_port

from ofa_deploy.data import load_dataset
from ofa_deploy.data.datasets import FASHION_MNIST_ROOT, DatasetError, _read_idx
from ofa_deploy.errors import CheckpointError, FormatError
from ofa_deploy.nn import OFAMobileNetV3, load_supernet
from ofa_deploy.space import SpaceSpec, smallest_arch
from ofa_deploy.train import load_recipe, recalibrate_bn
from ofa_deploy.train.progressive import Trainer
from ofa_deploy.train.recipe import parse_recipe

torch.set_num_threads(1)


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_run_goes_through_every_phase_and_learns(tmp_path):
    trainer = Trainer(load_recipe("tiny-synthetic"), tmp_path)
    assert trainer.run() == {"stopped": False, "seconds": pytest.approx(0, abs=600)}
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    ends = [e for e in events if e["event"] == "phase_end"]
    assert [e["phase"] for e in ends] == ["full", "kernel", "depth", "expand"]
    assert ends[-1]["test_top1"]["largest"] > 40.0  # 4 classes: chance is 25 %
    path = trainer.export(tmp_path / "supernet.pt")
    back = load_supernet(path)
    assert _same_weights(back.state_dict(), trainer.model.state_dict())
    assert back.checkpoint_meta["recipe"] == "tiny-synthetic"


def test_interrupted_run_resumes_exactly(tmp_path):
    recipe = load_recipe("tiny-synthetic")
    straight = Trainer(recipe, tmp_path / "a")
    straight.run()
    first = Trainer(recipe, tmp_path / "b")
    assert first.run(stop_after_epochs=5)["stopped"]  # inside the kernel phase (the full phase has 4 epochs)
    with pytest.raises(CheckpointError, match="--resume"):
        Trainer(recipe, tmp_path / "b").run()
    resumed = Trainer(recipe, tmp_path / "b")
    resumed.run(resume=True)
    assert _same_weights(straight.model.state_dict(), resumed.model.state_dict())


def test_resume_refuses_another_recipe(tmp_path):
    recipe = load_recipe("tiny-synthetic")
    Trainer(recipe, tmp_path).run(stop_after_epochs=1)
    other = parse_recipe({**recipe.raw, "seed": 7}, "other")
    with pytest.raises(CheckpointError, match="another recipe"):
        Trainer(other, tmp_path).run(resume=True)


@pytest.mark.slow
def test_two_process_data_parallel_ranks_end_identical(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("ddp_worker.py")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(free_port()), str(worker), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    assert _same_weights(r0, r1)
    single = Trainer(load_recipe("tiny-synthetic"), tmp_path / "single")
    single.run()
    # The same images per step, but drawn by two streams and normalised by two BN batches.
    assert not _same_weights(r0, single.model.state_dict())
    # The recipe's batch size is per step, all processes together: each of the two ranks draws half.
    assert [int((tmp_path / f"rank{r}.batch").read_text()) for r in (0, 1)] == [single.stream.batch_size // 2] * 2


def test_batch_size_that_does_not_split_over_the_processes_is_refused(tmp_path, monkeypatch):
    from ofa_deploy.train import progressive

    monkeypatch.setattr(progressive, "dist_info", lambda: (0, 3))
    with pytest.raises(FormatError, match="batch_size 32 .* does not split over 3 processes"):
        Trainer(load_recipe("tiny-synthetic"), tmp_path)


def test_bn_recalibration_uses_cumulative_statistics():
    spec = SpaceSpec(width_mult=0.25, ks_list=(3,), expand_list=(3,), depth_list=(1,), resolutions=(16,),
                     n_classes=4, in_channels=1)
    sub = OFAMobileNetV3(spec).extract(smallest_arch(spec))
    batches = [torch.randn(8, 1, 16, 16) * 3 + 1 for _ in range(4)]
    recalibrate_bn(sub, batches)
    with torch.no_grad():
        conv_out = sub.first_conv.conv(torch.cat(batches))
    expected_mean = conv_out.mean(dim=(0, 2, 3))
    assert torch.allclose(sub.first_conv.bn.running_mean, expected_mean, atol=1e-5)
    assert not sub.training and sub.first_conv.bn.momentum == 0.1
    with pytest.raises(DatasetError, match="at least one batch"):
        recalibrate_bn(sub, [])


def test_recipe_errors():
    with pytest.raises(FormatError, match="unknown recipe"):
        load_recipe("nope")
    raw = dict(load_recipe("tiny-synthetic").raw)
    raw["phases"] = [{"name": "x", "epochs": 1, "lr": 0.1, "ks": [9]}]
    with pytest.raises(FormatError, match=r"ks \[9\] not in"):
        parse_recipe(raw)
    assert load_recipe("imagenet").space.width_mult == 1.2
    assert [p.sort_channels for p in load_recipe("demo-fmnist").phases][-2:] == [0, 1]


def test_crop_padding_shows_the_chosen_fill():
    from ofa_deploy.data.batches import BatchStream
    from ofa_deploy.data.datasets import ArraySplit, Splits

    black = ArraySplit(np.zeros((64, 1, 8, 8), np.uint8), np.zeros(64, np.int64))
    splits = Splits(black, black, black, 1, 1, mean=0.25, std=0.5, name="black")
    x, _ = BatchStream(black, splits, 64, crop_pad=2, crop_fill="background").next_batch(8)
    assert torch.all(x == -0.5)  # a 0 pixel after normalisation: the crop's border is image background
    x, _ = BatchStream(black, splits, 64, crop_pad=2, crop_fill="mean").next_batch(8)
    assert torch.any(x == 0.0) and torch.any(x == -0.5)  # the mean grey shows where the crop shifted
    raw = dict(load_recipe("tiny-synthetic").raw)
    raw["data"] = {**raw.get("data", {}), "crop_fill": "white"}
    with pytest.raises(FormatError, match="crop_fill 'white' is not one of mean, background"):
        parse_recipe(raw)


def test_idx_reader_rejects_bad_files(tmp_path):
    (tmp_path / "x").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DatasetError, match="truncated"):
        _read_idx(tmp_path / "x")
    (tmp_path / "y").write_bytes(b"PK\x03\x04....")
    with pytest.raises(DatasetError, match="not an idx file"):
        _read_idx(tmp_path / "y")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path / "empty")


def test_fashion_mnist_split_is_fixed():
    if not FASHION_MNIST_ROOT.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    a, b = load_dataset("fashion-mnist"), load_dataset("fashion-mnist")
    assert (len(a.train), len(a.val), len(a.test)) == (55000, 5000, 10000)
    assert np.array_equal(a.val.labels, b.val.labels) and a.train.images.shape[1:] == (1, 28, 28)


def test_from_scratch_baseline_trains_only_that_subnet(tmp_path):
    from ofa_deploy.train.recipe import from_scratch

    recipe = load_recipe("tiny-synthetic")
    with pytest.raises(FormatError, match="largest, middle, smallest"):
        from_scratch(recipe, "biggest")
    base = from_scratch(recipe, "smallest")
    (phase,) = base.phases
    assert (phase.ks, phase.expand, phase.depth, phase.kd) == ([3], [3], [1], 0.0)
    assert (phase.epochs, phase.lr) == (recipe.phases[0].epochs, recipe.phases[0].lr)
    trainer = Trainer(base, tmp_path)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    # Weights outside the smallest subnet never get a gradient: e.g. the third stage block is idle.
    idle = [k for k in after if ".blocks.2." in f".{k}" or k.startswith("blocks.2.")]
    changed = [k for k in after if not torch.equal(before[k], after[k])]
    assert changed and idle and not any(k in changed for k in idle if k.endswith("weight"))
    # A run folder of the baseline is not mistaken for the full recipe's.
    with pytest.raises(CheckpointError, match="another recipe"):
        Trainer(recipe, tmp_path).run(resume=True)


def test_report_sets_scratch_baselines_beside_ofa_subnets(tmp_path):
    from ofa_deploy.train.recipe import from_scratch
    from ofa_deploy.train.report import scratch_results, write_report

    recipe = load_recipe("tiny-synthetic")
    Trainer(from_scratch(recipe, "smallest"), tmp_path / "scratch").run()
    base = scratch_results(tmp_path / "scratch")
    end = [json.loads(x) for x in (tmp_path / "scratch" / "log.jsonl").read_text().splitlines()][-1]
    assert base["subnet"] == "smallest" and base["top1"] == end["test_top1"]["smallest"] and base["epochs"] == 4
    ofa = tmp_path / "ofa"
    ofa.mkdir()
    (ofa / "log.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"time": "2026-01-01T10:00:00", "event": "phase_start", "phase": "full"},
        {"time": "2026-01-01T10:01:00", "event": "epoch", "phase": "full", "seconds": 60.0},
        {"time": "2026-01-01T10:01:30", "event": "phase_end", "phase": "full",
         "test_top1": {"largest": 50.0, "middle": 50.0, "smallest": 50.0}},
        {"time": "2026-01-01T12:00:00", "event": "resume", "phase": 1, "epoch_in_phase": 0},
        {"time": "2026-01-01T12:01:00", "event": "phase_end", "phase": "expand",
         "test_top1": {"largest": 70.0, "middle": 65.0, "smallest": 61.5}},
    ]) + "\n")
    text = write_report(ofa, recipe, [tmp_path / "scratch"]).read_text()
    # Wall clock: 60 + 30 + 60 s; the two hours before the --resume are not training time.
    assert "1.0 min the sum of epochs, 2.5 min wall clock" in text
    assert json.loads((ofa / "report.json").read_text())["wall_seconds"] == 150.0
    assert "| full | 4 | 50.00 | 50.00 | 50.00 |" in text
    assert f"| smallest | 61.50 | {base['top1']:.2f} | {61.5 - base['top1']:+.2f} |" in text
    # The first phase trains the largest subnet alone: it is the largest's baseline.
    assert "| largest | 70.00 | 50.00 | +20.00 | 1 epochs, the 'full' phase of this run |" in text
    baselines = json.loads((ofa / "report.json").read_text())["from_scratch"]
    assert [b["subnet"] for b in baselines] == ["largest", "smallest"] and baselines[1]["top1"] == base["top1"]
    with pytest.raises(ValueError, match="not a finished"):
        scratch_results(ofa)


def test_sandwich_rule_trains_the_phases_largest_and_smallest_every_step(tmp_path):
    raw = dict(load_recipe("tiny-synthetic").raw)
    kernel = {**raw["phases"][1], "subnets_per_step": 3, "include_largest": True, "include_smallest": True}
    recipe = parse_recipe({**raw, "phases": [raw["phases"][0], kernel]})
    trainer = Trainer(recipe, tmp_path)
    seen = []
    set_active = trainer.model.set_active
    trainer.model.set_active = lambda arch: (seen.append(arch), set_active(arch))
    trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=0.0)
    for step in range(4):
        trainer.train_step(recipe.phases[1], np.random.default_rng(step), 0.0)
    phase = recipe.phases[1]
    assert len(seen) == 12
    for largest, _, smallest in zip(seen[0::3], seen[1::3], seen[2::3]):
        assert set(largest.ks) == {max(phase.ks)} and set(smallest.ks) == {min(phase.ks)}
        assert set(largest.e) == set(smallest.e) == {4} and largest.r == smallest.r
    with pytest.raises(FormatError, match="subnets_per_step to 2 or more"):
        parse_recipe({**raw, "phases": [raw["phases"][0], {**kernel, "subnets_per_step": 1}]})


def test_scratch_baseline_survives_changes_to_the_elastic_phases():
    from ofa_deploy.train.recipe import from_scratch

    raw = dict(load_recipe("tiny-synthetic").raw)
    longer = parse_recipe({**raw, "phases": [raw["phases"][0], {**raw["phases"][1], "epochs": 9}]})
    assert from_scratch(longer, "middle").raw == from_scratch(load_recipe("tiny-synthetic"), "middle").raw
    first = parse_recipe({**raw, "phases": [{**raw["phases"][0], "epochs": 3}, *raw["phases"][1:]]})
    assert from_scratch(first, "middle").raw != from_scratch(load_recipe("tiny-synthetic"), "middle").raw
