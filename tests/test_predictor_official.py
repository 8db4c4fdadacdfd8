"""The official OFA accuracy predictor: read with torch's weights-only loader, predictions equal the golden ones."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from support.shared import CASES, OFFICIAL_PTH

from ofa_deploy.predictor import Predictor, import_official
from ofa_deploy.space import Arch, ArchBatch

pytestmark = pytest.mark.golden  # conformance with the official code (../shared)


def need(path):
    if not path.exists():
        pytest.skip(f"{path} is absent: the official predictor and golden cases live in ../shared")
    return path


def test_import_matches_golden_predictions(tmp_path):
    pred = import_official(need(OFFICIAL_PTH))
    path = pred.save(tmp_path / "official.npz")
    loaded = Predictor.load(path)
    cases = [c for c in json.loads(need(CASES).read_text())["cases"] if c.get("official_predicted_acc") is not None]
    assert len(cases) >= 4
    batch = ArchBatch.from_archs([Arch.from_dict(c["arch"]) for c in cases])
    got = loaded.predict(batch)
    want = np.array([c["official_predicted_acc"] for c in cases])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert loaded.resolutions == (112, 128, 144, 160, 176, 192, 208, 224)


def test_import_equals_torch_load():
    torch = pytest.importorskip("torch")
    ref = torch.load(need(OFFICIAL_PTH), map_location="cpu", weights_only=True)
    pred = import_official(OFFICIAL_PTH)
    for n, key in enumerate(sorted({k.split(".")[0] for k in ref}, key=int)):
        np.testing.assert_array_equal(pred.model.weights[n], ref[f"{key}.weight"].numpy())
        np.testing.assert_array_equal(pred.model.biases[n], ref[f"{key}.bias"].numpy())


@pytest.mark.parametrize("zip_format", [True, False])
def test_import_handles_both_torch_save_formats(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    sizes = [(400, 128), (400, 400), (400, 400), (1, 400)]
    state = {}
    for n, (o, i) in zip((0, 2, 4, 6), sizes):
        state[f"{n}.weight"], state[f"{n}.bias"] = torch.randn(o, i), torch.randn(o)
    p = tmp_path / "x.pth"
    torch.save(state, p, _use_new_zipfile_serialization=zip_format)
    pred = import_official(p)
    np.testing.assert_array_equal(pred.model.weights[3], state["6.weight"].numpy())
    assert pred.meta["source"] == "x.pth"


def test_predictor_package_does_not_load_torch():
    """`search` evaluates predictors and starts fast: only the official import loads torch."""
    code = ("import sys; import ofa_deploy.predictor, ofa_deploy.search.sources; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
