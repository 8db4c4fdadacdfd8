"""`search --verify`: the delivered subnet is measured; over budget -> tightened re-search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ofa_deploy.errors import OptionError
from ofa_deploy.search.verify import parse_margin


def strict_json(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_parse_margin():
    assert parse_margin("5%") == pytest.approx(0.05) and parse_margin("0.1") == 0.1 and parse_margin(None) == 0
    with pytest.raises(OptionError):
        parse_margin("lots")


def test_verify_delivers_measured_subnet_within_budget(cli, profiled, tmp_path):
    code, out, err = cli("search", "--latency", "50ms", "-o", tmp_path / "s.json", "--json")  # local: default on
    assert code == 0, err
    doc = strict_json(out)
    v = doc["verified"]
    assert v["met"] and v["measured_ms"] <= 50 and len(v["rounds"]) == 1 and "verify round 1" in err
    meta = json.loads((tmp_path / "s.json").read_text())["meta"]
    assert meta["verified"]["measured_ms"] == v["measured_ms"] and meta["predicted"]["latency_ms"] == v["predicted_ms"]
    assert meta["search"]["budget"]["latency_ms"] == 50
    from ofa_deploy.latency.drift import read_log

    cands = v["rounds"][0]["candidates"]  # the best 3 by predicted accuracy, all measured
    assert len(cands) == v["top"] == 3 and all(c["predicted_ms"] <= 50 for c in cands)
    assert [c["accuracy"] for c in cands] == sorted((c["accuracy"] for c in cands), reverse=True)
    assert v["rounds"][0]["delivered"] == cands[0]["arch"]  # the most accurate one fits a loose budget
    assert meta["verified"]["rounds"][0]["candidates"] == cands
    rows = read_log(profiled)[-3:]  # every measurement is a drift check in the table's log
    assert [r["command"] for r in rows] == ["search --verify"] * 3
    assert float(rows[0]["measured_ms"]) == pytest.approx(v["measured_ms"], abs=1e-4)


def test_verify_researches_under_tightened_budget(cli, profiled, tmp_path, monkeypatch):
    from ofa_deploy.search import verify

    calls = []

    def twice(*_a, **_k):
        def measure(r):
            calls.append(r.latency_ms)
            return 2 * r.latency_ms
        return measure

    code, out, err = cli("search", "--latency", "50ms", "--no-verify", "--json")
    assert code == 0, err
    largest = strict_json(out)["results"][0]["latency_ms"]
    monkeypatch.setattr(verify, "device_measure", twice)
    budget = 1.5 * largest  # the plain search's subnet fits, but measures 2x its prediction
    code, out, err = cli("search", "--latency", f"{budget}ms", "--json")
    assert code == 0, err
    v = strict_json(out)["verified"]
    rounds = v["rounds"]
    assert rounds[0]["met"] is False and rounds[1]["predicted_budget_ms"] < rounds[0]["predicted_budget_ms"]
    assert v["met"] == (v["measured_ms"] <= budget) and err.count("verify round") == len(rounds) <= 3


def test_margin_tightens_predicted_budget(cli, profiled, tmp_path):
    code, out, err = cli("search", "--latency", "50ms", "--margin", "10%", "--no-verify", "--json")
    assert code == 0, err
    doc = strict_json(out)
    assert doc["margin"]["predicted_budget_ms"] == pytest.approx(45) and "verified" not in doc
    assert doc["results"][0]["latency_ms"] <= 45


def test_verify_refused_without_weights(cli, profiled, tmp_path):
    code, _out, err = cli("search", "--latency", "50ms", "--no-verify", "-o", tmp_path / "space.json")
    assert code == 0, err
    before = sorted(Path(tmp_path, "home").rglob("*.json"))
    code, _out, err = cli("search", "--latency", "50ms", "--supernet", tmp_path / "space.json", "--verify")  # a space only
    assert code == 2 and "needs the supernet's weights" in err and "Traceback" not in err
    assert sorted(Path(tmp_path, "home").rglob("*.json")) == before  # nothing written
    code, _out, err = cli("search", "--latency", "50ms", "--supernet", tmp_path / "space.json")  # only the default
    assert code == 0 and "not verified on the device" in err


def test_sweep_is_not_verified_and_says_so(cli, profiled, tmp_path):
    code, out, err = cli("search", "--latency", "40ms,50ms", "--verify", "-o", tmp_path / "sweep", "--json")
    assert code == 0, err
    assert "sweeps are not verified" in err and "verified" not in strict_json(out)


def test_verify_delivers_the_best_candidate_that_measures_within_budget(cli, profiled, tmp_path, monkeypatch):
    """The top subnet measures over the budget, the runner-up within: the runner-up is delivered in
    round 1, without a re-search; its file records predicted and measured latency and the rounds."""
    from ofa_deploy.search import verify

    seen = []

    def top_is_slow(*_a, **_k):
        def measure(r):
            raise AssertionError("candidates are measured together")

        def many(results):
            seen.append([r.arch.short() for r in results])
            return [1000.0] + [0.5 * r.latency_ms for r in results[1:]]  # the budget is 50 ms

        measure.many = many
        return measure

    monkeypatch.setattr(verify, "device_measure", top_is_slow)
    code, out, err = cli("search", "--latency", "50ms", "--verify-top", "2", "-o", tmp_path / "s.json", "--json")
    assert code == 0, err
    v = strict_json(out)["verified"]
    (r1,) = v["rounds"]
    assert len(seen) == 1 and len(seen[0]) == 2 and v["met"] and v["top"] == 2
    assert [c["met"] for c in r1["candidates"]] == [False, True] and r1["delivered"] == seen[0][1]
    meta = json.loads((tmp_path / "s.json").read_text())["meta"]
    delivered = json.loads((tmp_path / "s.json").read_text())
    assert meta["verified"]["measured_ms"] == r1["candidates"][1]["measured_ms"] == v["measured_ms"]
    assert meta["predicted"]["latency_ms"] == r1["candidates"][1]["predicted_ms"] and meta["verified"]["rounds"]
    assert "delivering #2" in " ".join(err.split()) and delivered["arch"]


def test_verify_top_is_checked(cli, profiled, tmp_path):
    code, _out, err = cli("search", "--latency", "50ms", "--verify-top", "0", "-o", tmp_path / "s.json")
    assert code == 2 and "--verify-top" in err and not (tmp_path / "s.json").exists()


def test_search_top_starts_with_the_plain_search(profiled):
    """`search_top`'s first subnet is `search`'s (same seed, same evolution), the others distinct,
    less or equally accurate, all within the budget."""
    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.predictor import Predictor, default_predictor_path
    from ofa_deploy.search import EvolutionConfig
    from ofa_deploy.search.evolution import search, search_top
    from ofa_deploy.search.problem import Budget, build_problem

    pred = Predictor.load(default_predictor_path())
    lut = LatencyTable.load(profiled)
    problem = build_problem(pred.spec, pred, lut, "cpu")
    cfg = EvolutionConfig(population=40, generations=30)
    budget = Budget(0.9 * problem.minimum("latency")[0] + 0.1 * 50, None, None)
    one = search(problem, budget, cfg, seed=1)
    top = search_top(problem, budget, 4, cfg, seed=1)
    assert top[0].arch == one.arch and top[0].accuracy == one.accuracy
    assert len({r.arch for r in top}) == len(top) == 4
    assert [r.accuracy for r in top] == sorted((r.accuracy for r in top), reverse=True)
    assert all(r.latency_ms <= budget.latency_ms * (1 + 1e-9) for r in top)
