"""Faults a user meets (issue 27): a torn last row, a full disk, symlink loops, kills between
renames, leftovers of dead runs. Each test reproduces the fault as the user meets it."""

from __future__ import annotations

import json

import pytest

PROFILE = ("profile", "--resolutions", "24", "--sessions", "1", "--max-runs", "3")


# ---- 1. a torn last row in table.csv --------------------------------------------------------------
@pytest.mark.parametrize("method", [None, "isolated"])
def test_torn_last_row_resumes_through_the_cli(cli, tmp_path, method):
    out = tmp_path / "t"
    extra = ("--method", method) if method else ("--subnets", "12")
    code, _, err = cli(*PROFILE, *extra, "-o", out)
    assert code == 0, err
    table = out / "table.csv"
    whole = table.read_bytes()
    with open(table, "r+b") as f:  # what a kill (or a full disk) mid-row leaves
        f.truncate(len(whole) - 30)
    code, stdout, err = cli(*PROFILE, *extra, "-o", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["written"] == 1  # the torn row, measured again
    rows = table.read_text().splitlines()
    assert table.read_bytes().endswith(b"\n") and len(rows) == len(whole.decode().splitlines())
    code, _, err = cli(*PROFILE, *extra, "-o", out)  # and again: nothing left to do
    assert code == 0, err


def test_lut_repair_says_what_it_dropped(cli, tmp_path):
    out = tmp_path / "t"
    code, _, err = cli(*PROFILE, "--method", "isolated", "-o", out)
    assert code == 0, err
    table = out / "table.csv"
    n = len(table.read_text().splitlines())
    with open(table, "ab") as f:
        f.write(b"expanded_conv-input:12x12x8-out")
    code, stdout, err = cli("lut", "repair", out)
    assert code == 0, err
    said = " ".join(stdout.split())  # rich wraps long lines
    assert "dropped a half-written last row: 31 bytes ('expanded_conv-input:12x12x8-out')" in said, said
    assert table.read_bytes().endswith(b"\n") and len(table.read_text().splitlines()) == n
    with open(table, "ab") as f:
        f.write(b"Conv-inp")
    code, stdout, err = cli("lut", "repair", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["torn_tail"] == "Conv-inp"
    code, stdout, _ = cli("lut", "repair", out)
    assert "nothing to repair" in stdout
