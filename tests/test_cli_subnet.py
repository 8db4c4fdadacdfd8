"""`ofa-deploy subnet show|convert`: per-stage costs, conversions, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest
from support.shared import REFERENCE, need_shared

from ofa_deploy.space import Arch, Subnet, arch_costs, load_subnet, official_space, save_subnet

W10 = official_space(1.0)
ARCH = Arch((3, 5, 7, 3) * 5, (3, 4, 6, 4) * 5, (2, 3, 4, 3, 2), 176)


@pytest.fixture
def subnet_file(tmp_path):
    return save_subnet(Subnet(W10, ARCH), tmp_path / "s.json") or tmp_path / "s.json"


def test_show_json_stage_costs_add_up(cli, subnet_file):
    code, out, _ = cli("subnet", "show", subnet_file, "--json")
    assert code == 0
    info = json.loads(out)
    params, macs = arch_costs(W10, ARCH.validate(W10))
    assert (info["params"], info["macs"]) == (params, macs)
    assert [st["depth"] for st in info["stages"]] == list(ARCH.d)
    assert [st["kernels"] for st in info["stages"]][2] == [3, 5, 7, 3]
    # Stage costs are the blocks' share: positive, and less than the whole by the fixed layers.
    assert all(st["params"] > 0 and st["macs"] > 0 for st in info["stages"])
    assert sum(st["params"] for st in info["stages"]) < params
    # One more block in a stage adds exactly that block's cost to that stage only.
    deeper = Arch(ARCH.ks, ARCH.e, (3, 3, 4, 3, 2), ARCH.r)
    p2, m2 = arch_costs(W10, deeper.validate(W10))
    save_subnet(Subnet(W10, deeper), subnet_file)
    info2 = json.loads(cli("subnet", "show", subnet_file, "--json")[1])
    assert info2["stages"][0]["params"] - info["stages"][0]["params"] == p2 - params
    assert info2["stages"][0]["macs"] - info["stages"][0]["macs"] == m2 - macs
    assert info2["stages"][1:] == info["stages"][1:]


def test_show_table_is_readable(cli, subnet_file):
    code, out, _ = cli("subnet", "show", subnet_file)
    assert code == 0
    assert "176 px" in out and "params" in out and "MACs" in out


@pytest.mark.parametrize("fmt", ["json", "yaml", "official", "net-config", "mmrazor"])
def test_convert_round_trips_through_every_format(cli, subnet_file, tmp_path, fmt):
    out = tmp_path / fmt / ("net.config" if fmt == "net-config" else f"s.{'yaml' if fmt in ('yaml', 'mmrazor') else 'json'}")
    out.parent.mkdir()
    code, _, err = cli("subnet", "convert", subnet_file, "--to", fmt, "--out", out)
    assert code == 0, err
    back = load_subnet(out)
    assert back.arch == ARCH.canonical(W10) or back.arch == ARCH
    if fmt != "official":  # the official arch dict does not record the width multiplier
        assert back.spec.stage_widths == W10.stage_widths


def test_convert_mmrazor_note8_to_net_config(cli, tmp_path):
    src = need_shared(REFERENCE / "mmrazor" / "OFA_SUBNET_NOTE8_LAT31.yaml")
    code, _, _ = cli("subnet", "convert", src, "--to", "net-config", "--out", tmp_path / "net.config")
    assert code == 0
    assert json.loads((tmp_path / "run.config").read_text())["image_size"] == 152
    assert load_subnet(tmp_path).arch == load_subnet(src).arch


@pytest.mark.parametrize("content, message", [
    ("{not json", "neither valid JSON nor YAML"),
    ('{"ks": [3]}', "unrecognised subnet format"),
    ('{"ks": ' + json.dumps([9] * 20) + ', "e": ' + json.dumps([3] * 20) + ', "d": [2,2,2,2,2], "r": 176}',
     "9"),
])
def test_bad_input_one_error_line_exit_2_nothing_written(cli, tmp_path, content, message):
    src = tmp_path / "bad.json"
    src.write_text(content)
    out = tmp_path / "out.json"
    code, _, err = cli("subnet", "convert", src, "--to", "json", "--out", out)
    assert code == 2
    assert not out.exists()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_unknown_target_format(cli, subnet_file, tmp_path):
    code, _, err = cli("subnet", "convert", subnet_file, "--to", "pb", "--out", tmp_path / "x")
    # A choice (Enum): Typer's usage error names the valid formats; exit 2, no traceback, nothing written.
    assert code == 2 and "'pb' is not one of" in err and "net-config" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_missing_file(cli, tmp_path):
    code, _, err = cli("subnet", "show", tmp_path / "nope.json")
    assert code == 2 and "no such file" in err
