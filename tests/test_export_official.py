"""Official weights through the export pipeline: the golden w1.2 checkpoint (official key format,
1000 classes), one golden subnet exported to ONNX and to TFLite fp32, and both files run on the
golden inputs must give the logits the official OFA code computed (1e-4 of the largest logit).

Case `case1` (d=2 everywhere, r=160, 4.6 M parameters) is the smallest golden subnet and well
conditioned (see test_nn_golden). No dataset belongs to this checkpoint, so BN statistics are the
stored ones, as in the golden run, and the pipeline's own verification uses random images.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.shared import GOLDEN, need_shared

pytest.importorskip("onnxruntime")

from ofa_deploy.export.pipeline import ExportOptions, plan_export, run_export
from ofa_deploy.runtime.models import open_model

CASE = "case1"


@pytest.fixture(scope="module")
def golden(golden_cases, golden_io, tmp_path_factory):
    checkpoint = need_shared(GOLDEN / "supernet.pth")
    case = next(c for c in golden_cases if c["name"] == CASE)
    folder = tmp_path_factory.mktemp("official")
    subnet = folder / f"{CASE}.json"
    subnet.write_text(json.dumps(case["arch"]))  # the official arch dict: {ks, e, d, image_size}
    io = golden_io[CASE]
    return checkpoint, subnet, io["input"].numpy(), io["logits"].numpy(), folder, case["subnet_params"]


@pytest.mark.parametrize("fmt", ["onnx", pytest.param("tflite", marks=pytest.mark.slow)])  # tflite: ~11 s
def test_official_subnet_export_matches_golden_logits(golden, fmt):
    checkpoint, subnet, x, expected, folder, params = golden
    out = folder / f"{CASE}.{fmt}"
    plan = plan_export(ExportOptions(fmt, subnet, checkpoint=checkpoint, out=out, recalibrate=False,
                                     verify_images=4))
    assert plan.supernet.spec.width_mult == 1.2 and plan.supernet.spec.n_classes == 1000
    report = run_export(plan)
    assert report["passed"] and not report["bn"]["recalibrated"]
    assert report["input"]["shape"] == [1, 3, 160, 160] and report["output"]["shape"] == [1, 1000]
    assert report["subnet"]["params"] == params

    got = open_model(out)(x)
    scale = np.abs(expected).max()
    assert got.shape == expected.shape == (2, 1000)
    assert np.abs(got - expected).max() <= 1e-4 * scale
    assert (got.argmax(1) == expected.argmax(1)).all()


@pytest.mark.slow
def test_largest_official_subnet_at_224_is_not_refused(golden_cases, tmp_path):
    """Issue 29, item 4: the largest subnet (case0: k7, e6, d4, r 224) of the official-format checkpoint is
    ill-conditioned with its random weights and stored BN statistics: PyTorch fp32 itself is ~1e-2 (relative)
    from fp64 on random images. Its correct ONNX file was refused by the old whole-set max rule; the fair
    check measures that rounding in fp64 and accepts the file, saying so in the report."""
    checkpoint = need_shared(GOLDEN / "supernet.pth")
    case = next(c for c in golden_cases if c["name"] == "case0")
    assert case["arch"]["image_size"] == 224 and set(case["arch"]["ks"]) == {7}
    subnet = tmp_path / "case0.json"
    subnet.write_text(json.dumps(case["arch"]))
    out = tmp_path / "case0.onnx"
    report = run_export(plan_export(ExportOptions("onnx", subnet, checkpoint=checkpoint, out=out, recalibrate=False,
                                                  verify_images=32)))
    v = report["verification"]
    assert report["passed"] and out.exists()
    assert v["metrics"]["top1_agreement_decisive"] == 100.0
    rounding = v["fp64_rounding"]  # the strict limits missed: judged against PyTorch's own rounding
    assert rounding is not None and rounding["ratio"] <= 3 and rounding["torch_rel_max"] > 1e-4
    assert v["metrics"]["rel_diff_p99"] > 1e-4 and any("raised" in c.get("note", "") for c in v["checks"])
