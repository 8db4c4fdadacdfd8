"""A device named by a descriptor path is one device throughout (issue 23, item 8): `profile -d
./armboard.yaml` files the table under the descriptor's name, and every later command, given the
path, the name, or nothing (the records), finds that table and that descriptor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")


def test_a_device_given_by_path_is_one_device_throughout(cli, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(home))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    monkeypatch.chdir(tmp_path)
    Path("armboard.yaml").write_text("name: armboard\nconnection: local\nruntime: onnxruntime\nthreads: 1\n")
    code, _, err = cli("profile", "-d", "./armboard.yaml", "--resolutions", "24", "--sessions", "1", "--max-runs",
                       "3", "--subnets", "12")
    assert code == 0, err
    rec = json.loads((home / "records" / "last_profile.json").read_text())
    assert rec["device"] == "armboard" and Path(rec["table"]).is_relative_to(tmp_path / "tables" / "armboard")

    code, out, err = cli("latency", "validate", "-d", "./armboard.yaml", "--samples", "3", "--sessions", "1",
                         "--json")
    assert code == 0, err
    code, out, err = cli("lut", "show", "-d", "armboard")  # the name finds the same table
    assert code == 0, err
    code, out, err = cli("search", "-d", "./armboard.yaml", "--latency", "50ms", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["device"] == "armboard" and doc["latency_table"]["path"] == rec["table"] and doc["verified"]["met"]
    code, _, err = cli("search", "--latency", "50ms", "--no-verify", "--json")  # the records' device
    assert code == 0, err
    code, out, err = cli("export", "--format", "onnx", "--no-recalibrate", "--verify-images", "20")
    assert code == 0, err
    code, out, err = cli("benchmark", "--sessions", "1", "--max-runs", "5", "--json")  # the records' device, by name
    assert code == 0, err
    r = json.loads(out)
    assert r["device"] == "armboard" and r["predicted_ms"] is not None and r["prediction"]["path"] == rec["table"]


def test_a_path_that_is_no_descriptor_is_refused_with_nothing_written(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("search", "-d", "./nosuch.yaml", "--latency", "5ms")
    assert code == 2 and "no such device descriptor file" in err and "Traceback" not in err
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.json"))
