"""`ofa_deploy.api`: the flow's data as pandas DataFrames, equal to what the library computes, and
imported lazily (the command line never loads pandas)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="ofa_deploy.api needs pandas (pip install 'ofa-deploy[pandas]')")

from ofa_deploy import api, records
from ofa_deploy.errors import OfaDeployError
from ofa_deploy.latency.table import LatencyTable
from ofa_deploy.paths import shipped_tables_dir

SHIPPED = shipped_tables_dir() / "cpu" / "w0.5_c10_in1"


def test_latency_table_rows_are_the_tables():
    df = api.latency_table(SHIPPED)
    table = LatencyTable.load(SHIPPED)
    assert len(df) == len(table.rows)
    row = table.rows[5]
    got = df[(df.key == row.key) & (df.resolution == row.resolution)].iloc[0]
    assert got["median"] == row.median and got["method"] == row.method
    assert df.attrs["device"] == "cpu"
    by_name = api.latency_table("cpu")  # a device name: the user's table, else the shipped one
    assert set(by_name.columns) == set(df.columns) and len(by_name) > 0


def test_validation_frame_and_verdict():
    df = api.validation(SHIPPED)
    assert {"measured_ms", "predicted_raw_ms", "error_pct"} <= set(df.columns)
    mape = df["error_pct"].abs().mean()
    assert mape == pytest.approx(df.attrs["metrics"]["mape"], rel=1e-3)  # every subnet held out (no calibration)
    assert df.attrs["verdict"].startswith("verdict: good")
    with pytest.raises(OfaDeployError, match="latency validate"):
        api.validation(SHIPPED.parent)


def test_search_population_and_pareto_front(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    table = shutil.copytree(SHIPPED, tmp_path / "table")  # nothing is ever written beside the shipped table
    out = api.search("0.5ms", table=table, verify=False, out=tmp_path / "s.json")
    pop = api.search_population(out.files[0])
    assert len(pop) > 100 and (pop["latency_ms"] <= 0.5 * 1.001).all()
    front = api.pareto_front(out.files[0])
    assert front["latency_ms"].is_monotonic_increasing and front["accuracy"].is_monotonic_increasing
    # No evaluated subnet beats the front: none is both faster and more accurate than a front point.
    for _, p in front.iterrows():
        assert not ((pop["latency_ms"] < p["latency_ms"]) & (pop["accuracy"] > p["accuracy"])).any()
    assert pop["accuracy"].max() == pytest.approx(out.results[0].accuracy, abs=1e-5)
    sweep = api.search("0.35ms,0.5ms", table=table, out=tmp_path / "sw")
    df = api.sweep(sweep.files[0].parent)
    assert list(df["budget_ms"]) == [0.35, 0.5] and df["accuracy"].is_monotonic_increasing


def test_benchmarks_log(tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    assert api.benchmarks().empty
    f = tmp_path / "m.onnx"
    f.write_bytes(b"x")
    for median in (1.0, 2.0):
        records.log_benchmark({"file": str(f), "device": "cpu", "predicted_ms": 1.6, "budget_ms": 2.5,
                               "measured_ms": {"median": median, "mean": median, "std": 0.1, "p10": median - 0.1,
                                               "p90": median + 0.1, "count": 20}})
    # A line cut by an interrupted writer is skipped, not an error.
    with records.log_path(records.BENCHMARKS_LOG).open("a") as fh:
        fh.write('{"file": "half')
    df = api.benchmarks()
    assert list(df["median_ms"]) == [1.0, 2.0]
    assert df["measured_over_predicted"].tolist() == pytest.approx([1 / 1.6, 2 / 1.6])
    assert df["file"].iloc[0] == str(f.resolve()) and isinstance(df["time"].iloc[0], pd.Timestamp)


def test_accuracy_dataset(tmp_path):
    torch = pytest.importorskip("torch")
    from ofa_deploy.nn import OFAMobileNetV3, save_supernet
    from ofa_deploy.predictor import DatasetBuilder, load_accuracy_dataset
    from ofa_deploy.train import load_recipe

    torch.set_num_threads(1)
    torch.manual_seed(0)
    sup = save_supernet(OFAMobileNetV3(load_recipe("tiny-synthetic").space), tmp_path / "s.pt",
                        meta={"recipe": "tiny-synthetic"})
    DatasetBuilder(tmp_path / "ds", sup, samples=4, val_images=32, bn_images=16).run()
    df = api.accuracy_dataset(tmp_path / "ds")
    data = load_accuracy_dataset(tmp_path / "ds")
    assert len(df) == 4 and np.allclose(df["accuracy"], data.accuracy)
    assert df["label"].is_unique and {"ks", "e", "d", "r"} <= set(df.columns)


def test_api_is_not_imported_by_the_cli():
    code = ("import sys, ofa_deploy.cli; "
            "print(json.dumps(sorted(m for m in ('pandas', 'ofa_deploy.api', 'matplotlib') if m in sys.modules)))")
    p = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(p.stdout) == []
