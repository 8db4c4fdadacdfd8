"""`runtime.convert.cia_ops_listed_once`: one listing of torch's CompositeImplicitAutograd operators per
litert-torch conversion. The converted file must be the same bytes as without it, and torch's function must
be its own again afterwards (a later export may follow a custom-op registration)."""

from __future__ import annotations

import contextlib
import importlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from ofa_deploy.runtime import convert


def _lookups():
    return [importlib.import_module(name) for name in convert._CIA_LOOKUPS]


def test_the_listing_is_cached_inside_and_torchs_own_function_is_back_after():
    original = _lookups()[0]._collect_all_valid_cia_ops
    assert all(m._collect_all_valid_cia_ops is original for m in _lookups())  # torch 2.13's layout
    with convert.cia_ops_listed_once():
        inside = [m._collect_all_valid_cia_ops for m in _lookups()]
        assert inside[0] is not original and all(f is inside[0] for f in inside)
        first, second = inside[0](), inside[0]()
        assert first is second and inside[0].cache_info().misses == 1
    assert all(m._collect_all_valid_cia_ops is original for m in _lookups())
    with pytest.raises(RuntimeError), convert.cia_ops_listed_once():
        raise RuntimeError("a failed conversion")
    assert all(m._collect_all_valid_cia_ops is original for m in _lookups())


@pytest.mark.slow  # two litert-torch conversions
def test_a_conversion_with_the_listing_cached_writes_the_same_bytes(tmp_path, monkeypatch):
    from torch import nn

    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(8, 24, 1), nn.BatchNorm2d(24), nn.Hardswish(),
                          nn.Conv2d(24, 24, 3, padding=1, groups=24), nn.ReLU(), nn.Conv2d(24, 8, 1)).eval()
    x = torch.randn(1, 8, 12, 12)
    cached = convert.convert_fp32(block, x, tmp_path / "cached.tflite")
    monkeypatch.setattr(convert, "cia_ops_listed_once", contextlib.nullcontext)
    plain = convert.convert_fp32(block, x, tmp_path / "plain.tflite")
    assert cached.read_bytes() == plain.read_bytes()
