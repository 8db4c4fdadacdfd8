"""`ofa-deploy train` on an ImageNet-style folder (real JPEG files written here): streamed through
DataLoader workers with the official train transform, every phase, exact resume, BN options reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from support.ports import free_port

from ofa_deploy.errors import FormatError
from ofa_deploy.nn import load_supernet
from ofa_deploy.train.progressive import Trainer
from ofa_deploy.train.recipe import load_recipe, parse_recipe

CLASSES = ("n01440764", "n01443537", "n01484850")

RECIPE = {
    "name": "tiny-imagenet-test",
    "space": {"width_mult": 0.25, "ks_list": [3, 5], "expand_list": [3, 4], "depth_list": [1, 2],
              "resolutions": [32, 40], "n_classes": 3, "in_channels": 3},
    "data": {"kind": "imagenet", "val_size": 3, "workers": 1},
    "batch_size": 8,  # 21 training images: 2 batches an epoch, so the 3 epochs of the run cross data epochs
    "bn_images": 8, "bn_batch": 4, "bn_transform": "eval", "eval_images": 6, "seed": 0,
    "phases": [{"name": "full", "epochs": 2, "lr": 0.05, "ks": [5], "expand": [4], "depth": [2]},
               {"name": "kernel", "epochs": 1, "lr": 0.02, "ks": [3, 5], "expand": [4], "depth": [2],
                "subnets_per_step": 2, "kd": 1.0}],
}


def _photo(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BILINEAR)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes x 8 train JPEGs (one grayscale a class) and 2 val JPEGs a class, of varied sizes."""
    root = tmp_path_factory.mktemp("imnet")
    for c, wnid in enumerate(CLASSES):
        for i in range(8):
            img = _photo(10 * c + i, (56 + 4 * i, 48))
            (root / "train" / wnid).mkdir(parents=True, exist_ok=True)
            (img.convert("L") if i == 3 else img).save(root / "train" / wnid / f"{wnid}_{i}.JPEG", "JPEG", quality=90)
        for i in range(2):
            (root / "val" / wnid).mkdir(parents=True, exist_ok=True)
            _photo(100 + 10 * c + i, (48, 60)).save(root / "val" / wnid / f"val_{c}_{i}.JPEG", "JPEG", quality=90)
    return root


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "tiny-imagenet.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    return path


@pytest.mark.slow  # ~28 s: every phase, twice
def test_train_cli_on_a_folder_runs_every_phase_and_resumes_exactly(cli, folder, recipe_file, tmp_path):
    torch.set_num_threads(1)
    base = ["train", "--recipe", recipe_file, "--data", folder, "--threads", "1", "--json"]
    code, out, err = cli(*base, "--out", tmp_path / "straight", "--workers", "2")
    assert code == 0, err
    assert json.loads(out)["stopped"] is False
    code, out, err = cli(*base, "--out", tmp_path / "cut", "--stop-after-epochs", "1")
    assert code == 0 and json.loads(out)["stopped"] is True, err
    # resumed with another number of image readers: each image's draws are its own, not a worker's
    code, out, err = cli(*base, "--out", tmp_path / "cut", "--resume", "--workers", "0")
    assert code == 0, err
    a = load_supernet(tmp_path / "straight" / "supernet.pt").state_dict()
    b = load_supernet(tmp_path / "cut" / "supernet.pt").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    report = json.loads((tmp_path / "straight" / "report.json").read_text())
    assert [p["phase"] for p in report["phases"]] == ["full", "kernel"]
    assert report["bn_calibration"] == {"images": 8, "batch": 4, "transform": "eval", "split": "train"}
    assert "on 8 training images (eval transform, batches of 4)" in (tmp_path / "straight" / "report.md").read_text()
    assert load_supernet(tmp_path / "straight" / "supernet.pt").checkpoint_meta["recipe"] == "tiny-imagenet-test"


@pytest.mark.slow
def test_train_on_a_folder_under_torchrun_two_processes(folder, tmp_path):
    """Each rank reads its DistributedSampler share, every rank at the batch's resolution: the run ends."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "data": {**RECIPE["data"], "workers": 0}}))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(free_port()), "-m", "ofa_deploy", "train", "--recipe", str(recipe),
                           "--data", str(folder), "--out", str(tmp_path / "run"), "--threads", "1", "--json"],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es)" in proc.stderr and json.loads(proc.stdout)["final"]["phase"] == "kernel"
    assert (tmp_path / "run" / "supernet.pt").exists()


def test_streamed_training_reads_the_folder_at_the_batch_resolution(folder, tmp_path):
    recipe = parse_recipe({**RECIPE, "data": {**RECIPE["data"], "root": str(folder), "workers": 0}}, "t")
    trainer = Trainer(recipe, tmp_path)
    assert trainer.streamed and trainer.steps_per_epoch == 21 // 8
    sides = []
    for _ in range(6):  # three data epochs of two batches
        x, y = trainer.stream.next_batch()
        sides.append(x.shape[-1])
        assert x.shape[:2] == (8, 3) and x.shape[-2] == x.shape[-1] and y.max() < 3
    # the position moves to the next epoch when its first batch is asked for
    assert set(sides) == {32, 40} and trainer.stream.state() == {"epoch": 2, "batch": 2}
    trainer.stream.close()


def test_recipes_name_the_streamed_folder_kind():
    assert load_recipe("imagenet").data["kind"] == "imagenet"
    with pytest.raises(FormatError, match="kind 'folder' .* is gone: write kind: imagenet"):
        parse_recipe({**RECIPE, "data": {"kind": "folder"}}, "old")
    with pytest.raises(FormatError, match=r"\['crop_fill'\] do not apply to data.kind 'imagenet'"):
        parse_recipe({**RECIPE, "data": {"kind": "imagenet", "crop_fill": "mean"}}, "mixed")
    with pytest.raises(FormatError, match="bn_transform 'test' is not one of train, eval"):
        parse_recipe({**RECIPE, "bn_transform": "test"}, "bn")
