"""The ImageNet data path wired into the commands: export --data on a folder, and its conformance via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from support.images import CLASSES, photo, write_image
from support.shared import SHARED, need_shared

from ofa_deploy.nn import OFAMobileNetV3, save_supernet
from ofa_deploy.space import Arch, SpaceSpec, Subnet, save_subnet

ort = pytest.importorskip("onnxruntime")

PRE = SHARED / "golden" / "imagenet_preprocessing"
SPEC = SpaceSpec(width_mult=0.25, ks_list=(3, 5), expand_list=(3, 4), depth_list=(1, 2), resolutions=(32, 40),
                 n_classes=3, in_channels=3)
ARCH = Arch((5, 3) * 5, (4, 3) * 5, (2, 1, 2, 2, 1), 32)


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


@pytest.fixture
def imnet(tmp_path):
    """3 classes x 5 train JPEGs (one grayscale), 2 val JPEGs a class."""
    root = tmp_path / "imnet"
    for c, wnid in enumerate(CLASSES):
        for i in range(5):
            img = photo(10 * c + i, (64 + 8 * i, 48))
            write_image(root / "train" / wnid / f"{wnid}_{i}.JPEG", img.convert("L") if i == 1 else img)
        for i in range(2):
            write_image(root / "val" / wnid / f"val_{c}_{i}.JPEG", photo(100 + 10 * c + i, (40, 56)))
    return root


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    supernet = save_supernet(OFAMobileNetV3(SPEC), tmp_path / "supernet.pt")
    subnet = save_subnet(Subnet(SPEC, ARCH), tmp_path / "subnet.json")
    return supernet, subnet


def test_export_data_folder_reports_its_preprocessing(cli, tmp_path, imnet, tiny):
    supernet, subnet = tiny
    out = tmp_path / "m.onnx"
    code, stdout, err = cli("export", "--subnet", subnet, "--supernet", supernet, "--data", imnet, "--format",
                            "onnx", "--out", out, "--bn-images", "7", "--bn-batch", "4", "--workers", "0", "--json")
    assert code == 0, err
    r = json.loads(stdout)
    bn = r["bn"]
    assert bn["recalibrated"] and bn["images"] == 7 and bn["batch"] == 4 and bn["transform"] == "train"
    assert bn["resolution"] == 32 and "train transform" in bn["preprocessing"] and str(imnet) in bn["source"]
    v = r["verification"]
    assert v["images"] == 6 and "eval transform" in v["preprocessing"] and v["resolution"] == 32
    assert "accuracy_torch" in v["metrics"] and r["warnings"] == [] and r["skipped_images"] == 0


def test_export_threads_sets_torch_threads_for_that_export_only(cli, tmp_path, imnet, tiny):
    supernet, subnet = tiny
    before = torch.get_num_threads()
    args = ["export", "--subnet", subnet, "--supernet", supernet, "--data", imnet, "--format", "onnx",
            "--bn-images", "4", "--workers", "0", "--json"]
    code, stdout, err = cli(*args, "--out", tmp_path / "m.onnx", "--threads", str(before + 1))
    assert code == 0, err
    assert json.loads(stdout)["torch_threads"] == before + 1 and torch.get_num_threads() == before
    code, _, err = cli(*args, "--out", tmp_path / "n.onnx", "--threads", "0")
    assert code == 2 and "--threads" in err and not (tmp_path / "n.onnx").exists()


def test_export_bn_eval_uses_every_training_image_once_and_skips_bad_ones(cli, tmp_path, imnet, tiny):
    supernet, subnet = tiny
    (imnet / "train" / CLASSES[0] / "broken.JPEG").write_bytes(b"not a jpeg")
    args = ["export", "--subnet", subnet, "--supernet", supernet, "--data", imnet, "--format", "onnx",
            "--bn-transform", "eval", "--workers", "0", "--json"]
    code, _, err = cli(*args, "--out", tmp_path / "a.onnx")
    assert code == 2 and "broken.JPEG" in err and not (tmp_path / "a.onnx").exists()
    code, stdout, err = cli(*args, "--out", tmp_path / "b.onnx", "--skip-bad-images")
    assert code == 0, err
    r = json.loads(stdout)
    assert r["bn"]["images"] == 15 and r["bn"]["skipped_images"] == 1 and r["skipped_images"] == 1


def test_export_without_data_warns_that_bn_statistics_are_the_supernets(cli, tmp_path, tiny):
    supernet, subnet = tiny
    code, stdout, err = cli("export", "--subnet", subnet, "--supernet", supernet, "--format", "onnx",
                            "--out", tmp_path / "m.onnx")
    assert code == 0, err
    assert "warning" in stdout + err and "issue #8" in stdout + err
    doc = json.loads((tmp_path / "m.onnx.report.json").read_text())
    assert doc["warnings"] and "warning" in doc["bn"]
    code, stdout, err = cli("export", "--subnet", subnet, "--supernet", supernet, "--format", "onnx",
                            "--out", tmp_path / "n.onnx", "--no-recalibrate")
    assert code == 0 and json.loads((tmp_path / "n.onnx.report.json").read_text())["warnings"] == []


def test_bad_bn_transform_is_one_line(cli, tmp_path, imnet, tiny):
    supernet, subnet = tiny
    code, _, err = cli("export", "--subnet", subnet, "--supernet", supernet, "--data", imnet, "--format", "onnx",
                       "--out", tmp_path / "m.onnx", "--bn-transform", "random")
    assert code == 2 and "--bn-transform" in err and not (tmp_path / "m.onnx").exists()


def test_export_cli_matches_the_official_bn_recalibration(cli, tmp_path):
    """bn0 of golden/imagenet_preprocessing: sorted train images, eval transform at r, one batch."""
    cases = json.loads(need_shared(PRE / "cases.json").read_text())
    supernet = need_shared(SHARED / "golden" / "ofa_mbv3_w1.2" / "supernet.pth")
    case = next(c for c in cases["bn_cases"] if c["name"] == "bn0")
    subnet = tmp_path / "bn0.json"
    subnet.write_text(json.dumps(case["arch"]))
    out = tmp_path / "bn0.onnx"
    code, _, err = cli("export", "--supernet", supernet, "--subnet", subnet, "--data", PRE / "imagenet_mini",
                       "--bn-transform", "eval", "--bn-batch", str(case["bn_batch"]), "--format", "onnx",
                       "--out", out, "--workers", "0")
    assert code == 0, err
    tensors = torch.load(PRE / "tensors.pt", map_location="cpu", weights_only=False)
    r = case["arch"]["image_size"]
    got = run_onnx(out, tensors[f"valid_{r}"].numpy())
    ref = tensors["bn0"]["logits"].numpy()
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()
    report = json.loads((tmp_path / "bn0.onnx.report.json").read_text())
    assert report["bn"]["images"] == len(cases["train_files"]) and report["verification"]["images"] == 12


def test_predictor_dataset_on_a_folder_measures_the_held_out_split(cli, tmp_path, imnet, tiny):
    supernet, _ = tiny
    out = tmp_path / "acc"
    args = ["predictor", "dataset", "--supernet", supernet, "--data", imnet, "--samples", "2", "--out", out,
            "--bn-images", "6", "--bn-batch", "3", "--bn-transform", "eval", "--workers", "0", "--json"]
    code, stdout, err = cli(*args)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["rows"] == 2 and summary["new"] == 2 and summary["bn_images"] == 6
    meta = json.loads((out / "meta.json").read_text())
    assert meta["dataset"]["kind"] == "imagenet" and meta["dataset"]["val_size"] == 3
    assert meta["dataset"]["bn_transform"] == "eval" and meta["val_images"] == 3
    code, stdout, err = cli(*args)  # resumed: nothing to redo
    assert code == 0 and json.loads(stdout)["new"] == 0
