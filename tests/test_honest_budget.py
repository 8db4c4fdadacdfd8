"""Honest budgets (issue 23, item 5): a verified search that measures nothing within the budget
tries the cheapest predicted subnets, then exits 1 with one line naming the best measured subnet
and the tightest budget the device meets; it changes no export default, and its subnet file is
exported only with --over-budget (the report says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _smallest_predicted_ms(table: str) -> float:
    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.predictor import Predictor, default_predictor_path
    from ofa_deploy.search.problem import build_problem

    lut = LatencyTable.load(table)
    pred = Predictor.load(default_predictor_path())
    return build_problem(pred.spec, pred, lut, "cpu").minimum("latency")[0]


def test_budget_below_what_the_device_measures_exits_1_and_hands_nothing_on(cli, profiled, tmp_path):
    from ofa_deploy.latency.table import store_calibration

    code, out, err = cli("search", "--latency", "50ms", "--no-verify", "-o", tmp_path / "ok.json")
    assert code == 0, err
    record = Path(tmp_path, "home", "records", "last_search.json")
    before = record.read_text()
    # A table that predicts half of what the device measures: the search believes in budgets the
    # device cannot meet. The measurements stay real (the cpu, the profiling protocol).
    store_calibration(profiled, {"kind": "linear", "a": 0.5, "b": 0.0})
    low = _smallest_predicted_ms(profiled)
    budget = 1.2 * low  # predicted reachable; measured at about 2x the prediction, it is not
    code, out, err = cli("search", "--latency", f"{budget:.6f}ms", "-o", tmp_path / "over.json", "--json")
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("verify round")]
    failure = " ".join(lines[-1:])
    doc = json.loads(out)
    v = doc["verified"]
    assert v["met"] is False and doc["failure"]
    assert len(v["rounds"]) <= 3 and err.count("verify round") == len(v["rounds"])
    measured = [c for r in v["rounds"] for c in r["candidates"]]
    assert _smallest_arch() in {c["arch"] for c in measured}  # the space's smallest subnet was tried
    assert v["achievable_ms"] == min(c["measured_ms"] for c in measured) > budget
    assert v["best_measured"] in {c["arch"] for c in measured} and not any(r["met"] for r in v["rounds"])
    assert "the tightest budget this device meets" in " ".join(err.split()) and v["best_measured"] in err
    assert "Traceback" not in err and failure
    assert record.read_text() == before  # the export default is still the earlier search's
    # the file keeps the rounds; exporting it by name needs --over-budget, and nothing is written without
    meta = json.loads((tmp_path / "over.json").read_text())["meta"]
    assert meta["verified"]["met"] is False
    code, _out, err = cli("export", "--format", "onnx", "--subnet", tmp_path / "over.json", "-o", tmp_path / "m.onnx")
    assert code == 2 and "--over-budget" in err and not (tmp_path / "m.onnx").exists()
    code, out, err = cli("export", "--format", "onnx", "--subnet", tmp_path / "over.json", "-o", tmp_path / "m.onnx",
                         "--over-budget", "--verify-images", "20", "--no-recalibrate", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["over_budget"]["measured_ms"] == pytest.approx(v["measured_ms"])
    assert any("--over-budget" in w for w in report["warnings"])


def _smallest_arch() -> str:
    from ofa_deploy.predictor import Predictor, default_predictor_path
    from ofa_deploy.search.problem import build_problem

    pred = Predictor.load(default_predictor_path())
    pb = build_problem(pred.spec, pred, None, None)
    return pb.smallest_arch().short()


def test_budget_within_reach_is_unchanged(cli, profiled, tmp_path):
    """A loose budget: met in round 1, remembered as the export default, exit 0 (as before)."""
    code, out, err = cli("search", "--latency", "50ms", "-o", tmp_path / "s.json", "--json")
    assert code == 0, err
    assert json.loads(out)["verified"]["met"] and "failure" not in json.loads(out)
    rec = json.loads(Path(tmp_path, "home", "records", "last_search.json").read_text())
    assert rec["path"] == str((tmp_path / "s.json").resolve())
