"""Accuracy-controlled int8 and the second calibration (issue 29, item 3): the drop must hold on both.

A second, disjoint calibration set with the same float ops is AEQ's stability check. It used to be
reported only; now a try passes only when both drops are within `--max-drop`, the fallback goes on
while the second one fails, and verification checks it (`verify.int8_limits`), so an export whose
int8 result depends on which images calibrated it fails with one line instead of shipping.
Real onnxruntime quantisation of the shipped demo supernet on Fashion-MNIST; the second set is the
first one scaled by 3 (a calibration that misjudges every range), which no fallback of ops can fix
because the graph input stays quantised.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.demo import shipped_demo_with_labels, small_subnet

from ofa_deploy.nn import load_supernet

pytest.importorskip("onnxruntime.quantization")


@pytest.mark.slow
def test_second_calibration_drives_the_fallback_and_fails_verification(tmp_path):
    from ofa_deploy.export.inputs import calibration_images, verification_images
    from ofa_deploy.export.int8 import accuracy, accuracy_controlled
    from ofa_deploy.export.limits import run_checks
    from ofa_deploy.export.pipeline import ExportOptions, plan_export
    from ofa_deploy.export.verify import failed, int8_limits
    from ofa_deploy.runtime.convert import export_onnx
    from ofa_deploy.train.evaluate import calibrated_subnet

    supernet = shipped_demo_with_labels()
    sup = load_supernet(supernet)
    spec = sup.spec
    arch, subnet = small_subnet(spec, tmp_path / "small.json")
    plan = plan_export(ExportOptions("onnx", subnet, int8=True, checkpoint=supernet, out=tmp_path / "q.onnx"))
    x, labels = verification_images(plan.data, spec, arch.r, 300)
    calib = calibration_images(plan.data, spec, arch.r, 100)
    sub = calibrated_subnet(sup, arch, plan.data.source, 500)
    fp32 = export_onnx(sub, torch.zeros(1, spec.in_channels, arch.r, arch.r),
                       tmp_path / "f.onnx")
    reference, _ = accuracy(fp32, x, labels)
    assert reference > 60  # trained: the drop means something

    rec = accuracy_controlled(fp32, calib, [np.asarray(c) * 3 for c in calib], x, labels, reference, 0.5,
                              tmp_path / "q.onnx")
    tries = rec["tries"]
    first = tries[0]
    assert first["kept_float"] == 0 and first["drop"] <= 0.5 < first["second_drop"]
    # The first calibration held, yet the fallback went on because of the second one.
    assert len(tries) > 1 and rec["kept_float_for_accuracy"] > 0
    assert all(t["second_drop"] is not None for t in tries if t["drop"] <= 0.5)
    assert rec["second_calibration_drop"] > 0.5  # never made to hold: reported as it is ...
    metrics = {"accuracy_drop": rec["drop"], "second_calibration_drop": rec["second_calibration_drop"],
               "size_ratio": 0.3}
    rows = failed(run_checks(metrics, int8_limits(0.5)))
    assert [r["metric"] for r in rows] == ["second_calibration_drop"]  # ... and verification refuses it
    assert not (tmp_path / ".q.onnx.second.onnx").exists() and not (tmp_path / ".q.onnx.try.onnx").exists()
