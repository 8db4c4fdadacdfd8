"""Conformance of the ImageNet data path with upstream OFA, against tensors made with torchvision itself.

Data: ../shared/golden/imagenet_preprocessing/ (see shared/README.md); skipped when absent.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support.shared import GOLDEN, SHARED, need_shared

from ofa_deploy.data.imagenet import ImageFolderSource
from ofa_deploy.data.transforms import eval_transform, normalize, open_rgb
from ofa_deploy.nn import load_supernet
from ofa_deploy.nn.bn import recalibrate_bn
from ofa_deploy.space import Arch

pytestmark = pytest.mark.golden  # conformance with the official code (../shared)

PRE = SHARED / "golden" / "imagenet_preprocessing"


@pytest.fixture(scope="module")
def cases() -> dict:
    return json.loads(need_shared(PRE / "cases.json").read_text())


@pytest.fixture(scope="module")
def tensors() -> dict:
    return torch.load(need_shared(PRE / "tensors.pt"), map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def source(cases) -> ImageFolderSource:
    # val_size=0: every train image is a calibration image, as in the golden cases.
    return ImageFolderSource(PRE / "imagenet_mini", val_size=0, workers=0)


@pytest.mark.parametrize("r", [128, 160, 224, 236])
def test_eval_preprocessing_equals_torchvision(cases, tensors, r):
    x = normalize(torch.from_numpy(np.stack([eval_transform(open_rgb(PRE / f), r) for f in cases["val_files"]])))
    assert (x - tensors[f"valid_{r}"]).abs().max().item() <= 1e-6


def test_source_streams_the_val_folder_in_golden_order(cases, tensors, source):
    assert source.index.classes == tuple(cases["classes"])
    assert [p for p, _ in source.index.val] == [str(PRE / f) for f in cases["val_files"]]
    xs, ys = zip(*source.eval_batches("test", 160, batch_size=5))
    assert (torch.cat(xs) - tensors["valid_160"]).abs().max().item() <= 1e-6
    assert torch.cat(ys).tolist() == [cases["classes"].index(f.split("/")[2]) for f in cases["val_files"]]


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("name", ["bn0", "bn1"])
def test_bn_recalibration_reproduces_official_logits(cases, tensors, source, name, layout):
    """In both memory layouts (`predictor dataset` computes in channels_last: torch's train-mode BN
    kernel there once moved these logits by 3.5e-4; the recalibration normalises with its own statistics)."""
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    case = next(c for c in cases["bn_cases"] if c["name"] == name)
    arch = Arch.from_dict(case["arch"])
    sub = load_supernet(need_shared(GOLDEN / "supernet.pth")).extract(arch).to(memory_format=fmt)
    batches = list(source.bn_batches(arch.r, n_images=2000, batch_size=case["bn_batch"], transform="eval"))
    n = len(cases["train_files"])
    assert [len(b) for b in batches] == [min(case["bn_batch"], n - i) for i in range(0, n, case["bn_batch"])]
    recalibrate_bn(sub, [b.contiguous(memory_format=fmt) for b in batches])
    with torch.no_grad():
        logits = sub.eval()(tensors[f"valid_{arch.r}"].contiguous(memory_format=fmt))
    ref = tensors[name]["logits"]
    assert ((logits - ref).abs().max() / ref.abs().max()).item() <= 1e-4
