"""Latency keys, the LatencyTable files and the vectorised predictor (torch-free)."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.tables import synthetic_table

from ofa_deploy.errors import LatencyTableError
from ofa_deploy.latency import (
    LatencyTable,
    RowWriter,
    arch_keys,
    export_official,
    import_official,
    resolution_keys,
    space_keys,
)
from ofa_deploy.latency.table import read_rows
from ofa_deploy.space import Arch, ArchBatch, SpaceSpec, load_subnet, sample_archs

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASES = SHARED / "golden" / "ofa_mbv3_w1.2" / "cases.json"
NOTE10 = SHARED / "reference" / "ofa" / "note10"
NOTE10_30MS = SHARED / "reference" / "ofa" / "ofa_specialized" / "note10_lat-30ms_top1-78.4_finetune-75"
W12 = SpaceSpec(width_mult=1.2)


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the official reference data lives in ../shared beside the repository")
    return path


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return json.loads(shared(CASES).read_text())["cases"]


@pytest.fixture(scope="module")
def note10() -> LatencyTable:
    return import_official(sorted(shared(NOTE10).glob("*_lookup_table.yaml")), W12)


# ---- keys ---------------------------------------------------------------------------------------
def test_golden_keys_match_official(cases):
    for case in cases:
        assert arch_keys(W12, Arch.from_dict(case["arch"])) == case["lut_keys"], case["name"]


def test_distinct_keys_match_official_tables():
    for path in sorted(shared(NOTE10).glob("*_lookup_table.yaml")):
        r = int(path.name.split("_")[0])
        assert set(yaml.safe_load(path.read_text())) == set(space_keys(W12, [r])[r]), path.name


def test_w10_space_has_96_entries_per_resolution():
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    keys = space_keys(spec, [160, 224])
    assert len(keys[160]) == len(keys[224]) == 96  # 91 blocks + 5 fixed layers
    assert keys[160][-1] == "Logits-input:1x1x1280-output:10"


def test_small_space_keys_follow_spec():
    spec = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1, resolutions=(24, 28, 32))
    rk = resolution_keys(spec, 24)
    assert rk.fixed[0] == f"Conv-input:24x24x1-output:12x12x{spec.first_conv_width}"
    assert len(rk.slots) == spec.n_blocks


# ---- official tables ------------------------------------------------------------------------------
def test_note10_reproduces_golden_latencies(cases, note10):
    checked = 0
    for case in cases:
        if case.get("note10_latency_ms") is not None:
            got = note10.predict_arch(Arch.from_dict(case["arch"]))
            assert got == pytest.approx(case["note10_latency_ms"], rel=1e-12, abs=1e-9)
            checked += 1
    assert checked >= 3


def test_note10_reproduces_official_30ms_subnet(note10):
    sub = load_subnet(shared(NOTE10_30MS))
    assert round(note10.predict_arch(sub.arch), 2) == 29.97


def test_official_export_round_trip(note10, tmp_path):
    export_official(note10, tmp_path)
    for path in sorted(NOTE10.glob("*_lookup_table.yaml")):
        assert yaml.safe_load((tmp_path / path.name).read_text()) == yaml.safe_load(path.read_text())


def test_import_rejects_other_space(tmp_path):
    src = shared(NOTE10 / "160_lookup_table.yaml")
    with pytest.raises(LatencyTableError, match="absent"):
        import_official([src], SpaceSpec(width_mult=1.0))


# ---- prediction -----------------------------------------------------------------------------------
def test_batch_prediction_equals_per_layer_sum():
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    table = synthetic_table(spec, [128, 160, 224])
    batch = sample_archs(spec, 200, np.random.default_rng(1), resolutions=[128, 160, 224])
    pred = table.predict(batch)
    slow = [sum(v for _, v in table.arch_breakdown(a)) for a in batch.to_archs()]
    np.testing.assert_allclose(pred, slow, rtol=1e-12)
    assert pred.shape == (200,)


def test_inactive_slots_are_ignored():
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    table = synthetic_table(spec, [160])
    batch = sample_archs(spec, 50, np.random.default_rng(2), resolutions=[160])
    garbage = ArchBatch(batch.ks.copy(), batch.e.copy(), batch.d, batch.r)
    inactive = ~batch.active_mask(spec)
    garbage.ks[inactive] = 99
    garbage.e[inactive] = -5
    np.testing.assert_array_equal(table.predict(batch), table.predict(garbage))


def test_missing_key_names_key_and_command():
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    full = synthetic_table(spec, [160])
    arch = Arch((7,) * 20, (6,) * 20, (4,) * 5, 160)
    victim = arch_keys(spec, arch)[5]
    table = LatencyTable(spec, [r for r in full.rows if r.key != victim], {"device": "cpu"})
    with pytest.raises(LatencyTableError) as err:
        table.predict(ArchBatch.from_archs([Arch((3,) * 20, (3,) * 20, (2,) * 5, 160), arch]))
    assert victim in str(err.value) and "ofa-deploy profile --device cpu" in str(err.value)
    assert table.missing_keys() == {160: [victim]}


def test_missing_resolution_fails_clearly():
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    table = synthetic_table(spec, [160])
    with pytest.raises(LatencyTableError, match="no resolution 192.*--resolutions 192"):
        table.predict(sample_archs(spec, 5, np.random.default_rng(0), resolutions=[192]))


def test_calibration_is_applied_only_when_asked(tmp_path):
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    table = synthetic_table(spec, [160])
    batch = sample_archs(spec, 20, np.random.default_rng(3), resolutions=[160])
    raw = table.predict(batch, calibrated=False)
    np.testing.assert_array_equal(table.predict(batch), raw)  # no calibration stored
    table.set_calibration({"kind": "linear", "a": 1.2, "b": 0.5})
    table.save(tmp_path / "t")
    loaded = LatencyTable.load(tmp_path / "t")
    np.testing.assert_allclose(loaded.predict(batch), 1.2 * raw + 0.5)
    np.testing.assert_array_equal(loaded.predict(batch, calibrated=False), raw)
    with pytest.raises(LatencyTableError):
        table.set_calibration({"kind": "cubic"})


# ---- files ----------------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    table = synthetic_table(spec, [128, 160])
    table.metadata.update(backend="onnxruntime", threads=1)
    table.save(tmp_path / "cpu" / "w1.0_c10")
    from ofa_deploy.latency.resolve import resolve_table

    # a table folder, or (through the resolver) the device folder holding it
    for loaded in (LatencyTable.load(tmp_path / "cpu" / "w1.0_c10"), resolve_table(None, tmp_path / "cpu").table):
        assert loaded.rows == table.rows
        assert loaded.spec == spec and loaded.resolutions == (128, 160)
        assert loaded.metadata["device"] == "fake" and loaded.metadata["threads"] == 1


def test_half_written_and_corrupt_files_are_detected(tmp_path):
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    folder = synthetic_table(spec, [160]).save(tmp_path / "t")
    csv_path = folder / "table.csv"
    good = csv_path.read_text()
    csv_path.write_text(good + "Conv-input:160x160x3-output:80x8")
    with pytest.raises(LatencyTableError, match="half-written"):
        LatencyTable.load(folder)
    assert len(read_rows(csv_path, repair=True)) == 96 and csv_path.read_text() == good
    csv_path.write_text(good + "Conv_x,160,3,abc,,,,,isolated,0\n")
    with pytest.raises(LatencyTableError, match="non-numeric"):
        LatencyTable.load(folder)
    csv_path.write_text(good)
    (folder / "meta.yaml").write_text("format: ofa-deploy-latency-table\nversion: 1\ndevice: [unclosed\n")
    with pytest.raises(LatencyTableError, match="corrupt metadata"):
        LatencyTable.load(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LatencyTableError, match="holds no latency table"):
        LatencyTable.load(tmp_path / "empty")


def test_row_writer_appends_and_resumes(tmp_path):
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    rows = synthetic_table(spec, [160]).rows
    meta_only = LatencyTable(spec, [], {"device": "cpu"})
    meta_only.save(tmp_path)
    (tmp_path / "table.csv").unlink()
    with closing(RowWriter(tmp_path)) as w:
        for row in rows[:10]:
            w.write(row)
    with closing(RowWriter(tmp_path)) as w:
        for row in rows[10:]:
            w.write(row)
    assert LatencyTable.load(tmp_path).rows == rows


def test_prediction_speed_smoke():
    """Correctness of a 100k batch (its timing is reported by benchmarks/bench_latency.py)."""
    spec = SpaceSpec(width_mult=1.0, n_classes=10)
    table = synthetic_table(spec, [160, 224])
    batch = sample_archs(spec, 100_000, np.random.default_rng(0), resolutions=[160, 224])
    pred = table.predict(batch)
    assert pred.shape == (100_000,) and np.isfinite(pred).all()
    np.testing.assert_allclose(pred[:5], [sum(v for _, v in table.arch_breakdown(a)) for a in batch[:5].to_archs()])
