"""Devices known by their tables (issue 23, item 6): `lut import --device NAME` for a name with no
descriptor writes a minimal one (connection: none) and says so; `search --device NAME` then works,
unverified, saying why in one line; asking to verify there is refused with what to do."""

from __future__ import annotations

import json

from conftest import REFERENCE, need_shared


def test_imported_official_tables_make_a_searchable_device(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    note10 = need_shared(REFERENCE / "ofa" / "note10")
    pth = need_shared(REFERENCE / "ofa" / "acc_predictor.pth")
    code, out, err = cli("lut", "import", note10, "--device", "note10-official")
    assert code == 0, err
    text = " ".join(out.split())
    assert "had no descriptor: wrote" in text and "connection: none" in text
    written = tmp_path / "home" / "devices" / "note10-official.yaml"
    assert written.is_file() and "connection: none" in written.read_text()
    code, _, err = cli("predictor", "import", pth, "--out", tmp_path / "official.npz")
    assert code == 0, err
    code, out, err = cli("search", "--device", "note10-official", "-p", tmp_path / "official.npz", "--latency", "25ms",
                         "-o", tmp_path / "s.json", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["device"] == "note10-official" and doc["results"][0]["latency_ms"] <= 25 and "verified" not in doc
    said = [ln for ln in err.splitlines() if "not verified" in ln]
    assert len(said) == 1 and "known by its latency table only" in said[0]
    code, _, err = cli("search", "--device", "note10-official", "-p", tmp_path / "official.npz", "--latency", "25ms",
                       "--supernet", "ofa-mbv3-w1.2", "--verify", "-o", tmp_path / "v.json")
    assert code == 2 and "nothing can be measured on it" in err and not (tmp_path / "v.json").exists()
    # a second import of the same device leaves its descriptor alone and says nothing about it
    before = written.read_text()
    code, out, err = cli("lut", "import", note10, "--device", "note10-official", "-o", tmp_path / "again")
    assert code == 0, err and "descriptor" not in out and written.read_text() == before


def test_a_name_a_descriptor_cannot_take_is_refused_before_anything_is_written(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    note10 = need_shared(REFERENCE / "ofa" / "note10")
    code, _, err = cli("lut", "import", note10, "--device", "note 10!")
    assert code == 2 and "name must be" in err
    assert not (tmp_path / "tables").exists() and not (tmp_path / "home" / "devices").exists()
