"""The official OFA accuracy predictor: read without torch, predictions equal the golden ones."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from test_search_helpers import CASES, OFFICIAL_PTH

from ofa_deploy.predictor import Predictor, import_official, read_pth
from ofa_deploy.space import Arch, ArchBatch


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


def test_torch_free_reader_equals_torch_load():
    torch = pytest.importorskip("torch")
    ref = torch.load(need(OFFICIAL_PTH), map_location="cpu", weights_only=True)
    got = read_pth(OFFICIAL_PTH)
    assert list(got) == list(ref)
    for k, v in ref.items():
        np.testing.assert_array_equal(got[k], v.numpy())


@pytest.mark.parametrize("zip_format", [True, False])
def test_reader_handles_both_torch_save_formats(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    obj = {"w": torch.randn(3, 5).t(), "nested": {"i": torch.arange(6)[2:], "spec": {"width_mult": 1.2}}, "n": 7}
    p = tmp_path / "x.pth"
    torch.save(obj, p, _use_new_zipfile_serialization=zip_format)
    got = read_pth(p)
    np.testing.assert_array_equal(got["w"], obj["w"].numpy())
    np.testing.assert_array_equal(got["nested"]["i"], obj["nested"]["i"].numpy())
    assert got["nested"]["spec"] == {"width_mult": 1.2} and got["n"] == 7


def test_import_does_not_load_torch(tmp_path):
    need(OFFICIAL_PTH)
    code = ("import sys; from ofa_deploy.predictor import import_official; "
            f"import_official({str(OFFICIAL_PTH)!r}).save({str(tmp_path / 'p.npz')!r}); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
