"""Latency you can trust: validation metrics stored with the table, drift checks logged."""

from __future__ import annotations

import json
import math

import pytest

from ofa_deploy.latency import drift
from ofa_deploy.latency.validation import error_metrics, validation_record


def strict_json(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_error_metrics_exact_values():
    predicted = [1.0, 2.0, 4.0, 8.0]
    measured = [1.0, 2.2, 4.0, 10.0]  # errors 0, -1/11, 0, -0.2; ratios 1, 1.1, 1, 1.25
    m = error_metrics(predicted, measured)
    rel = [0.0, 0.2 / 2.2, 0.0, 0.2]
    assert m["n"] == 4
    assert m["mape"] == pytest.approx(sum(rel) / 4 * 100)
    assert m["rmspe"] == pytest.approx(math.sqrt(sum(r * r for r in rel) / 4) * 100)
    assert m["within_5"] == 50.0 and m["within_10"] == 75.0
    # numpy's linear interpolation: sorted |err| (0, 0, .0909, .2), position 0.95 * 3 = 2.85
    assert m["p95_ape"] == pytest.approx((rel[1] + 0.85 * (0.2 - rel[1])) * 100)
    assert m["kendall_tau"] == pytest.approx(1.0)
    assert m["measured_over_predicted"] == pytest.approx(1.05)
    # ratios sorted 1, 1, 1.1, 1.25: 5th pct at position .15 -> 1.0; 95th at 2.85 -> 1.1 + .85 * .15
    assert m["ratio_band"] == pytest.approx([1.0, 1.1 + 0.85 * 0.15])


def test_validation_record_uses_heldout_and_cleans_nan():
    raw = error_metrics([1.0, 1.0], [1.0, 1.0])  # tau undefined (ties)
    rec = validation_record({"raw_all": raw, "seed": 3, "resolutions": [24]}, "2026-01-01T00:00:00")
    assert rec["heldout"]["kendall_tau"] is None and rec["ratio_band"] == [1.0, 1.0]
    held = error_metrics([1.0, 2.0], [1.1, 2.2])
    rec = validation_record({"raw_all": raw, "calibrated_heldout": held, "calibrated": [0, 0], "seed": 0,
                             "resolutions": [24]}, "d")
    assert rec["heldout"] == held and rec["calibrated"] is True


def test_validate_stores_metrics_and_lut_show_reports_them(cli, profiled, tmp_path):
    table = profiled  # a cpu table, r 24, 1 session, 3 runs, fitted to 12 subnets (the session's one profile)
    code, out, err = cli("latency", "validate", "-t", table, "-r", "24", "-n", "4", "--sessions", "1",
                         "-o", tmp_path / "v", "--json")
    assert code == 0, err
    doc = strict_json(out)
    val = doc["validation"]
    assert val["heldout"]["n"] == 4 and val["calibrated"] is False  # without --calibrate all are held out
    assert val["heldout"]["mape"] == pytest.approx(doc["raw_all"]["mape"])
    code, out, err = cli("lut", "show", str(table), "--json")
    assert code == 0, err
    shown = strict_json(out)["metadata"]["validation"]
    assert shown["ratio_band"] == pytest.approx(val["ratio_band"]) and "rmspe" in shown["heldout"]
    code, out, err = cli("lut", "show", str(table))
    assert code == 0 and "validation" in out and "RMSPE" in out and "band" in out


def test_calibrate_reports_only_heldout_rows(cli, profiled, tmp_path):
    table = profiled
    code, out, err = cli("latency", "validate", "-t", table, "-r", "24", "-n", "6", "--sessions", "1",
                         "--calibrate", "-o", tmp_path / "v", "--json")
    assert code == 0, err
    doc = strict_json(out)
    test = [i for i, s in enumerate(doc["split"]) if s == "test"]
    fit = [i for i, s in enumerate(doc["split"]) if s == "fit"]
    assert fit and test and not set(fit) & set(test)
    expected = error_metrics([doc["calibrated"][i] for i in test], [doc["measured"][i] for i in test])
    assert doc["validation"]["heldout"]["n"] == len(test)
    assert doc["validation"]["heldout"]["mape"] == pytest.approx(expected["mape"])


def test_drift_message_and_log(tmp_path):
    meta = {"device": "cpu", "spec": None, "validation": {"ratio_band": [0.9, 1.1]}}
    ok = drift.DriftCheck(1.0, 1.05, drift.validated_band(meta))
    assert ok.in_band is True and ok.message("x") is None
    bad = drift.DriftCheck(1.0, 2.0, drift.validated_band(meta))
    msg = bad.message("net.onnx")
    assert bad.in_band is False and "outside" in msg and "latency validate --calibrate" in msg
    assert drift.DriftCheck(1.0, 2.0, None).message("x") is None  # never validated: nothing to compare with
    drift.append_log(tmp_path, "benchmark", "net.onnx", bad)
    drift.append_log(tmp_path, "search --verify", "arch", ok)
    rows = drift.read_log(tmp_path)
    assert [r["command"] for r in rows] == ["benchmark", "search --verify"]
    assert rows[0]["in_band"] == "False" and float(rows[0]["ratio"]) == 2.0 and rows[1]["in_band"] == "True"


def test_benchmark_reports_drift_and_logs(cli, profiled, monkeypatch):
    """A table validated with a narrow band, then a benchmark whose measurement is made 3x the
    prediction: one drift line on stderr and a row in the table's checks.csv."""
    folder = profiled
    from ofa_deploy.latency.table import store_metadata

    store_metadata(folder, validation={"ratio_band": [0.9, 1.1], "date": "d", "heldout": {}})
    code, out, err = cli("search", "--latency", "50ms")
    assert code == 0, err
    code, out, err = cli("export", "--format", "onnx", "--verify-images", "10")
    assert code == 0, err
    import ofa_deploy.devices.benchmark as bm

    real = bm.measure

    def slow(*a, **k):
        res = real(*a, **k)
        return {name: {**s, "median": 1000.0} for name, s in res.items()}

    monkeypatch.setattr(bm, "measure", slow)
    code, out, err = cli("benchmark", "--sessions", "1", "--max-runs", "3", "--json")
    assert code == 0, err
    doc = strict_json(out)
    assert doc["drift"]["in_band"] is False and "drift:" in err and "validate --calibrate" in err
    rows = drift.read_log(folder)
    assert rows and rows[-1]["command"] == "benchmark" and rows[-1]["in_band"] == "False"
