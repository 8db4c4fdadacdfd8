"""`predictor dataset` scaled out: the subnet list shared over `torchrun --nproc_per_node 2` (gloo, CPU),
interrupted and resumed, equal to a one-process run; and `--device cuda` (clean error without CUDA)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from support.images import CLASSES, photo, write_image
from support.ports import free_port

from ofa_deploy.nn import OFAMobileNetV3, save_supernet
from ofa_deploy.predictor.dataset import load_accuracy_dataset
from ofa_deploy.space import SpaceSpec

SPEC = SpaceSpec(width_mult=0.25, ks_list=(3, 5), expand_list=(3, 4), depth_list=(1, 2), resolutions=(32, 40),
                 n_classes=3, in_channels=3)
SAMPLES = 8


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A random tiny supernet, and 3 classes x 5 train JPEGs, 2 val JPEGs a class."""
    d = tmp_path_factory.mktemp("shard")
    for c, wnid in enumerate(CLASSES):
        for i in range(5):
            write_image(d / "imnet" / "train" / wnid / f"{wnid}_{i}.JPEG", photo(10 * c + i, (64 + 8 * i, 48)))
        for i in range(2):
            write_image(d / "imnet" / "val" / wnid / f"val_{c}_{i}.JPEG", photo(100 + 10 * c + i, (40, 56)))
    torch.manual_seed(0)
    supernet = save_supernet(OFAMobileNetV3(SPEC), d / "supernet.pt")
    return d, supernet


def _args(setup, out, *extra) -> list[str]:
    d, supernet = setup
    return ["predictor", "dataset", "--supernet", str(supernet), "--data", str(d / "imnet"), "--samples",
            str(SAMPLES), "--out", str(out), "--bn-images", "6", "--bn-batch", "3", "--bn-transform", "eval",
            "--workers", "0", "--threads", "1", "--json", *extra]


def _torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                           "--master_port", str(free_port()), "-m", "ofa_deploy", *args],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def _rows(folder) -> dict[int, tuple]:
    """index -> (arch, correct, images) of every row of rows.csv; asserts that no index repeats."""
    lines = (folder / "rows.csv").read_text().splitlines()[1:]
    rows = {}
    for line in lines:
        index, ks, e, d, r, correct, images, _, _ = line.split(",")
        assert int(index) not in rows, f"row {index} written twice"
        rows[int(index)] = (ks, e, d, r, int(correct), int(images))
    return rows


@pytest.mark.slow
def test_two_processes_share_the_subnets_resume_and_equal_one_process(cli, setup, tmp_path):
    code, _, err = cli(*_args(setup, tmp_path / "single"))
    assert code == 0, err
    single = _rows(tmp_path / "single")
    assert sorted(single) == list(range(SAMPLES))

    sharded = tmp_path / "sharded"
    cut = _torchrun(_args(setup, sharded, "--stop-after-rows", "3"))
    assert cut.returncode != 0 and "stopped after 3 new row(s)" in cut.stderr, cut.stderr[-3000:]
    assert len(_rows(sharded)) == 3
    done = _torchrun(_args(setup, sharded))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["rows"] == SAMPLES and summary["new"] == SAMPLES - 3
    assert _rows(sharded) == single  # none lost, none twice, the same measurements
    assert len(load_accuracy_dataset(sharded)) == SAMPLES


def test_cuda_asked_for_without_cuda_is_one_line_naming_the_fix(cli, setup, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the missing-CUDA error cannot happen here")
    code, _, err = cli(*_args(setup, tmp_path / "acc", "--device", "cuda"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "--device cuda" in lines[0] and "--device cpu" in lines[0]
    assert not (tmp_path / "acc" / "rows.csv").exists()
    code, _, err = cli(*_args(setup, tmp_path / "acc", "--device", "tpu"))
    assert code == 2 and "choose cpu, cuda or cuda:N" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False "
                                                          "here): the CPU path is tested, the CUDA path is not")
def test_cuda_rows_equal_the_cpu_rows(cli, setup, tmp_path):
    code, _, err = cli(*_args(setup, tmp_path / "cpu"))
    assert code == 0, err
    code, _, err = cli(*_args(setup, tmp_path / "cuda", "--device", "cuda"))
    assert code == 0, err
    cpu, cuda = _rows(tmp_path / "cpu"), _rows(tmp_path / "cuda")
    assert cpu.keys() == cuda.keys()
    for i in cpu:  # another convolution arithmetic: a tie of the argmax may fall the other way, no more
        assert cpu[i][:4] == cuda[i][:4] and cpu[i][5] == cuda[i][5] and abs(cpu[i][4] - cuda[i][4]) <= 1


def test_resolutions_fix_the_sampled_resolution(cli, setup, tmp_path):
    code, _, err = cli(*_args(setup, tmp_path / "r40", "--resolutions", "40"))
    assert code == 0, err
    assert {row[3] for row in _rows(tmp_path / "r40").values()} == {"40"}
    assert json.loads((tmp_path / "r40" / "meta.json").read_text())["resolutions"] == [40]
    code, _, err = cli(*_args(setup, tmp_path / "r40"))  # the same folder, all resolutions: refused
    assert code == 2 and "resolutions" in err
    code, _, err = cli(*_args(setup, tmp_path / "r41", "--resolutions", "41"))
    assert code == 2 and "41 is not in the space" in err
