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

    row = read_log(profiled)[-1]  # every verification is a drift check in the table's log
    assert row["command"] == "search --verify" and float(row["measured_ms"]) == pytest.approx(v["measured_ms"], abs=1e-4)


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
