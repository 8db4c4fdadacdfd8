"""Predictor files: encoding semantics, numpy evaluation, save/load, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.tables import SMALL, synthetic_predictor

from ofa_deploy.errors import FormatError, SpaceError
from ofa_deploy.predictor import OneHotEncoding, Predictor
from ofa_deploy.space import Arch, ArchBatch, SpaceSpec, sample_archs

W12 = SpaceSpec(width_mult=1.2)


def reference_features(arch: Arch) -> list[int]:
    """The OFA tutorial's spec2feats, written out plainly (one arch at a time)."""
    ks, ex = list(arch.ks), list(arch.e)
    for s, d in enumerate(arch.d):
        for j in range(s * 4 + d, s * 4 + 4):
            ks[j] = ex[j] = 0
    ks_map, ex_map = {3: 0, 5: 1, 7: 2}, {3: 0, 4: 1, 6: 2}
    k1, e1, r1 = [0] * 60, [0] * 60, [0] * 8
    for i in range(20):
        if ks[i]:
            k1[3 * i + ks_map[ks[i]]] = 1
        if ex[i]:
            e1[3 * i + ex_map[ex[i]]] = 1
    r1[(arch.r - 112) // 16] = 1
    return k1 + e1 + r1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_onehot_matches_tutorial_spec2feats(seed):
    batch = sample_archs(W12, 16, np.random.default_rng(seed), resolutions=range(112, 225, 16))
    x = OneHotEncoding.for_space(W12).encode(batch)
    ref = np.array([reference_features(a) for a in batch.to_archs()], dtype=np.float32)
    np.testing.assert_array_equal(x, ref)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_inactive_slots_do_not_change_features(seed):
    rng = np.random.default_rng(seed)
    batch = sample_archs(W12, 8, rng, resolutions=[160, 224])
    other = ArchBatch(batch.ks.copy(), batch.e.copy(), batch.d, batch.r)
    inactive = ~batch.active_mask(W12)
    other.ks[inactive] = rng.choice([3, 5, 7], size=int(inactive.sum()))
    other.e[inactive] = rng.choice([3, 4, 6], size=int(inactive.sum()))
    enc = OneHotEncoding.for_space(W12)
    np.testing.assert_array_equal(enc.encode(batch), enc.encode(other))


def test_save_load_roundtrip_predicts_the_same(tmp_path):
    pred = synthetic_predictor(SMALL, seed=3)
    path = pred.save(tmp_path / "p.npz")
    back = Predictor.load(path)
    batch = sample_archs(SMALL, 64, np.random.default_rng(0), resolutions=pred.resolutions)
    np.testing.assert_array_equal(back.predict(batch), pred.predict(batch))
    assert back.header() == pred.header()
    assert back.spec == SMALL and back.resolutions == (128, 144, 160, 176)


def test_mlp_forward_is_the_plain_formula():
    pred = synthetic_predictor(SMALL, seed=5)
    batch = sample_archs(SMALL, 10, np.random.default_rng(1), resolutions=pred.resolutions)
    h = pred.encoding.encode(batch).astype(np.float64)
    m = pred.model
    for i, (w, b) in enumerate(zip(m.weights, m.biases)):
        h = h @ w.T.astype(np.float64) + b
        if i < len(m.weights) - 1:
            h = np.maximum(h, 0)
    np.testing.assert_allclose(pred.predict(batch), h[:, 0], rtol=1e-5, atol=1e-6)


def test_uncovered_resolution_and_foreign_values_are_errors():
    pred = synthetic_predictor(SMALL)
    batch = sample_archs(SMALL, 4, np.random.default_rng(0), resolutions=[132])
    with pytest.raises(SpaceError, match="covers resolutions"):
        pred.predict(batch)
    bad = sample_archs(SMALL, 2, np.random.default_rng(0), resolutions=[128])
    bad.ks[:, 0] = 4
    with pytest.raises(SpaceError, match="kernel size or expand ratio"):
        pred.predict(bad)


@pytest.mark.parametrize("content, message", [
    (b"not a zip", "not an ofa-deploy predictor"),
    (None, "no such predictor file"),
])
def test_unreadable_files_say_so(tmp_path, content, message):
    p = tmp_path / "p.npz"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(FormatError, match=message):
        Predictor.load(p)


def test_npz_without_header_is_refused(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, a=np.zeros(3))
    with pytest.raises(FormatError, match="__header__"):
        Predictor.load(p)
