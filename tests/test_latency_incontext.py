"""In-context row costs: the ridge fit (exact recovery, shrinkage), stitched subnets, the method and
samples columns, old tables, and `profile --method` through the CLI. Behaviour, never timings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support.spaces import PROFILE_SPEC

from ofa_deploy.errors import LatencyTableError
from ofa_deploy.latency import LatencyTable, Row, resolution_keys
from ofa_deploy.latency.fit import count_matrix, ridge_fit
from ofa_deploy.latency.table import LEGACY_COLUMNS, RowWriter, read_rows
from ofa_deploy.space import sample_archs


def _design(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.integers(0, 3, size=(n, k)).astype(float)


def test_fit_recovers_known_costs_from_noise_free_sums():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.01, 0.2, 12)
    a = _design(rng, 60, 12)
    prior = true * rng.uniform(0.7, 1.4, 12)  # the isolated table is off by -30..+40 % per row
    for scale in (True, False):
        res = ridge_fit(a, a @ true, prior, lam=0.0, scale=scale)
        np.testing.assert_allclose(res.costs, true, rtol=1e-9)
        assert res.residual_mape < 1e-7
        assert res.samples.tolist() == (a > 0).sum(axis=0).tolist()


def test_fit_keeps_unseen_rows_on_the_prior_and_shrinks_toward_it():
    rng = np.random.default_rng(1)
    true = rng.uniform(0.01, 0.2, 10)
    a = _design(rng, 40, 10)
    a[:, [3, 7]] = 0  # rows no subnet contains
    prior = true * 1.25
    y = a @ true
    for lam in (0.0, 0.05, 10.0):
        res = ridge_fit(a, y, prior, lam=lam, scale=False)
        assert res.costs[3] == prior[3] and res.costs[7] == prior[7]
        assert res.samples[3] == 0 and res.samples[7] == 0
    # without the common factor, a stronger ridge pulls the fitted rows toward their prior (the
    # norm of the relative change shrinks as the ridge grows)
    dist = [np.linalg.norm(ridge_fit(a, y, prior, lam, scale=False).costs / prior - 1) for lam in (0.01, 1.0, 1e4)]
    assert dist[0] > dist[1] > dist[2] and dist[2] < 1e-3
    # with it, toward the prior times the common factor (here the whole bias: 1 / 1.25)
    res = ridge_fit(a, y, prior, lam=1e4, scale=True)
    seen = res.samples > 0
    assert res.scale == pytest.approx(0.8, rel=1e-3)
    np.testing.assert_allclose(res.costs[seen], 0.8 * prior[seen], rtol=1e-3)


def test_fit_rows_that_always_occur_together_get_their_sum_right():
    rng = np.random.default_rng(2)
    true = rng.uniform(0.01, 0.2, 8)
    a = _design(rng, 50, 8)
    a[:, 0] = a[:, 1] = 1  # like the fixed layers: in every subnet once
    prior = true * 1.1
    res = ridge_fit(a, a @ true, prior, lam=0.0, scale=False)
    assert res.costs[0] + res.costs[1] == pytest.approx(true[0] + true[1], rel=1e-9)
    np.testing.assert_allclose(res.costs[2:], true[2:], rtol=1e-9)
    assert (res.costs[:2] < prior[:2]).all()  # the change is shared, both move toward the truth


def test_fit_never_goes_below_its_floor_and_resists_slowed_subnets():
    # plain least squares would make row 1 negative: the floor holds it at a tenth of its prior
    res = ridge_fit(np.array([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]]), np.array([1.0, 1.5, 1.5]),
                    np.array([1.0, 0.5]), lam=0.0, scale=False, floor=0.1)
    assert res.costs[1] == pytest.approx(0.05) and res.costs[0] > 0
    # a few subnets slowed down by a background job (x1.5) barely move the robust fit
    rng = np.random.default_rng(4)
    true = rng.uniform(0.01, 0.2, 12)
    a = _design(rng, 80, 12)
    y = a @ true * (1 + rng.normal(0, 0.005, 80))
    y[:6] *= 1.5
    err = {robust: np.abs(ridge_fit(a, y, true * 1.2, lam=0.01, robust=robust).costs / true - 1).mean()
           for robust in (False, True)}
    assert err[True] < 0.02 < err[False]


def test_fit_refuses_bad_inputs():
    with pytest.raises(LatencyTableError, match="shape"):
        ridge_fit(np.ones((3, 2)), np.ones(3), np.ones(4))
    with pytest.raises(LatencyTableError, match="positive"):
        ridge_fit(np.ones((2, 2)), np.array([1.0, -1.0]), np.ones(2))
    with pytest.raises(LatencyTableError, match="ridge"):
        ridge_fit(np.ones((2, 2)), np.ones(2), np.ones(2), lam=-1)


def test_count_matrix_counts_each_subnets_layers():
    from ofa_deploy.latency import arch_keys

    keys = resolution_keys(PROFILE_SPEC, 24).distinct()
    archs = sample_archs(PROFILE_SPEC, 5, np.random.default_rng(0), resolutions=[24]).to_archs()
    a = count_matrix(PROFILE_SPEC, archs, keys)
    for i, arch in enumerate(archs):
        assert a[i].sum() == len(arch_keys(PROFILE_SPEC, arch))
    with pytest.raises(LatencyTableError, match="one resolution"):
        count_matrix(PROFILE_SPEC, sample_archs(PROFILE_SPEC, 1, np.random.default_rng(0), [32]).to_archs(), keys)


# ---- the method / samples columns ------------------------------------------------------------------
def _rows(r: int = 24) -> list[Row]:
    rows = []
    for n, k in enumerate(resolution_keys(PROFILE_SPEC, r).distinct()):
        v = 0.01 + n * 1e-3
        method, samples = [("isolated", 0), ("fit", 40 + n), ("profiler", 3)][n % 3]
        rows.append(Row(k, r, 60, v, v, 1e-4, 0.9 * v, 1.1 * v, method, samples))
    return rows


def test_method_and_samples_round_trip_through_save_and_load(tmp_path):
    table = LatencyTable(PROFILE_SPEC, _rows(), {"device": "cpu", "method": "fit"})
    table.save(tmp_path / "t")
    back = LatencyTable.load(tmp_path / "t")
    assert [(r.key, r.method, r.samples) for r in back.rows] == [(r.key, r.method, r.samples) for r in table.rows]
    assert back.rows == table.rows
    assert back.summary()["methods"] == table.summary()["methods"]
    assert set(back.summary()["methods"]) == {"isolated", "fit", "profiler"}


def test_tables_older_than_the_method_columns_load_and_resume_in_their_own_columns(tmp_path):
    folder = tmp_path / "old"
    LatencyTable(PROFILE_SPEC, [], {"device": "cpu"}).save(folder)
    rows = _rows()
    lines = [",".join(LEGACY_COLUMNS)] + [",".join(r.to_csv(LEGACY_COLUMNS)) for r in rows[:5]]
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    back = LatencyTable.load(folder)
    assert len(back) == 5 and all(r.method == "isolated" and r.samples == 0 for r in back.rows)
    w = RowWriter(folder)  # a resumed profile appends rows in the file's own (legacy) columns
    w.write(rows[5])
    w.close()
    assert (folder / "table.csv").read_text().splitlines()[-1].count(",") == len(LEGACY_COLUMNS) - 1
    assert len(read_rows(folder / "table.csv")) == 6


def test_a_row_with_an_unknown_method_is_refused(tmp_path):
    table = LatencyTable(PROFILE_SPEC, _rows()[:2], {"device": "cpu"})
    table.save(tmp_path / "t")
    p = tmp_path / "t" / "table.csv"
    p.write_text(p.read_text().replace(",isolated,", ",guessed,"))
    with pytest.raises(LatencyTableError, match="method 'guessed'"):
        LatencyTable.load(tmp_path / "t")


# ---- stitched subnets ------------------------------------------------------------------------------
def test_stitched_parts_compute_the_chained_modules_exactly(net):
    import onnxruntime as ort
    import torch

    from ofa_deploy.latency.incontext import LayerParts

    arch = sample_archs(PROFILE_SPEC, 1, np.random.default_rng(3), resolutions=[24]).to_archs()[0]
    onnx_parts, torch_parts = LayerParts(net, PROFILE_SPEC, 24, True), LayerParts(net, PROFILE_SPEC, 24, False)
    m, t = onnx_parts.subnet("s", arch), torch_parts.subnet("s", arch)
    x = np.random.default_rng(0).standard_normal(m.input_shape).astype(np.float32)
    sess = ort.InferenceSession(m.onnx_bytes, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x})[0]
    with torch.no_grad():
        want = t.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    names = [n.name for n in __import__("onnx").load_from_string(m.onnx_bytes).graph.node]
    assert all(n.startswith("L") and "/" in n for n in names)  # every node names its layer (the profiler's key)


# ---- the CLI ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["fit", "profiler"])
def test_profile_method_through_the_cli(cli, tmp_path, method):
    out = tmp_path / "t"
    code, stdout, err = cli("profile", "--resolutions", "24", "--sessions", "1", "--max-runs", "3", "--method", method,
                            "--subnets", "12", "-o", out, "--json")
    assert code == 0, err
    info = json.loads(stdout)
    table = LatencyTable.load(out)
    assert info["methods"].get(method, 0) > 0 and sum(info["methods"].values()) == len(table)
    made = [r for r in table.rows if r.method == method]
    assert made and all(0 < r.samples <= 12 for r in made)
    assert all(r.samples == 0 for r in table.rows if r.method == "isolated")
    iso = {(r.resolution, r.key): r for r in read_rows(out / "isolated.csv")}
    assert set(iso) == {(r.resolution, r.key) for r in table.rows}  # the prior is kept beside the table
    assert all(r.method == "isolated" and math.isfinite(r.median) for r in iso.values())
    assert table.metadata["method"] == method
    assert table.metadata["incontext"]["resolutions"]["24"]["subnets"] == 12
    # rerun: nothing left to do; another in-context method on the same table is refused
    code, _, err = cli("profile", "--resolutions", "24", "--sessions", "1", "--max-runs", "3", "--method", method,
                       "-o", out, "--json")
    assert code == 0, err
    assert LatencyTable.load(out).rows == table.rows
    other = "profiler" if method == "fit" else "fit"
    code, _, err = cli("profile", "--resolutions", "24", "--sessions", "1", "--max-runs", "3", "--method", other,
                       "-o", out)
    assert code == 2 and "--fresh" in err


def test_profile_method_isolated_writes_isolated_rows_only(cli, tmp_path):
    out = tmp_path / "t"
    code, stdout, err = cli("profile", "--resolutions", "24", "--sessions", "1", "--max-runs", "3",
                            "--method", "isolated", "-o", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["methods"] == {"isolated": len(LatencyTable.load(out))}
    assert not (out / "isolated.csv").exists()


def test_a_remote_fits_kept_subnet_times_survive_a_new_connection(tmp_path):
    """The fit's checkpoint is keyed by what the timings depend on; a remote device's temperature at
    connection time (different on every connection) is not part of it, its runtime is."""
    from ofa_deploy.latency.incontext import fit_checkpoint, fit_subnets
    from ofa_deploy.latency.protocol import Protocol

    info = {"backend": "ssh", "runtime": "onnxruntime", "threads": 1, "governors": None, "temp_c": 51.0}
    archs = fit_subnets(PROFILE_SPEC, 24, 3, 0)
    first = fit_checkpoint(tmp_path, 24, 3, 0, "median", Protocol(), info, PROFILE_SPEC)
    first.add([(a, 1.5 + i) for i, a in enumerate(archs)])
    again = fit_checkpoint(tmp_path, 24, 3, 0, "median", Protocol(), {**info, "temp_c": 58.0}, PROFILE_SPEC)
    assert [again.get(a) for a in archs] == [1.5 + i for i in range(len(archs))]
    other = fit_checkpoint(tmp_path, 24, 3, 0, "median", Protocol(), {**info, "runtime": "tflite"}, PROFILE_SPEC)
    assert all(other.get(a) is None for a in archs)
