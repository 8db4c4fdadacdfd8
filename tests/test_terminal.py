"""What a person reads in the terminal (issue 26): whole table headers when piped, flags without a
`<bool>` type, choice errors and suggestions in the CLI's words, notes on budgets and tables, sweep
budgets at 3 significant digits, a label per subnet, and `[tflite]` kept in error lines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ofa_deploy
from ofa_deploy.paths import shipped_tables_dir
from ofa_deploy.space import Arch

SHIPPED = shipped_tables_dir() / "cpu" / "w0.5_c10_in1"
SRC = str(Path(ofa_deploy.__file__).resolve().parents[1])


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    return shutil.copytree(SHIPPED, tmp_path / "table")


def piped(*args: str, cwd: Path, env_home: Path) -> subprocess.CompletedProcess:
    """The command with stdout and stderr piped (not a terminal), as in a log."""
    env = {"PATH": "/usr/bin:/bin", "OFA_DEPLOY_HOME": str(env_home), "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ofa_deploy", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_piped_tables_keep_whole_headers(table, tmp_path):
    p = piped("search", "--latency", "0.35ms,0.5ms", "-t", str(table), "-o", "sw", cwd=tmp_path,
              env_home=tmp_path / "home")
    assert p.returncode == 0, p.stderr
    assert "…" not in p.stdout and "…" not in p.stderr
    header = next(line for line in p.stdout.splitlines() if "pred. top-1" in line)
    for col in ("budget", "pred. top-1", "latency", "FLOPs", "params", "arch", "time"):
        assert col in header
    # --json is unchanged by any of it: strict JSON on stdout.
    j = piped("search", "--latency", "0.5ms", "-t", str(table), "--no-verify", "-o", "s.json", "--json", cwd=tmp_path,
              env_home=tmp_path / "home")
    assert j.returncode == 0 and json.loads(j.stdout)["results"]


def test_help_shows_no_bool_metavar_and_fits_80_columns(cli):
    for args in (["--help"], ["search", "--help"], ["export", "--help"], ["report", "--help"],
                 ["lut", "show", "--help"]):
        code, out, _ = cli(*args)
        assert code == 0 and "<bool>" not in out, args
        assert max(len(line) for line in out.splitlines()) <= 80, args  # the help console's own width


def test_choice_errors_and_suggestions_in_our_words(cli):
    code, _, err = cli("export", "--format", "pdf")
    assert code == 2 and "'pdf' is not one of: onnx, tflite" in err and "Value error" not in err
    code, _, err = cli("search", "--populatio", "3")
    assert code == 2 and "No such option: --populatio" in err and "--population" not in err


def test_error_line_keeps_brackets(capsys):
    from ofa_deploy.views.console import error_line

    error_line("TFLite export needs litert-torch: pip install 'ofa-deploy[tflite]'")
    assert "pip install 'ofa-deploy[tflite]'" in capsys.readouterr().err


def test_search_notes_bare_unit_budget_that_binds_nothing_and_order(cli, table):
    code, out, err = cli("search", "--latency", "22", "-t", str(table), "--no-verify", "-o", str(table.parent / "a.json"))
    assert code == 0, err
    assert "--latency 22: no unit given, 22 ms assumed" in err
    assert re.search(r"the latency budget 22 ms is above the largest subnet's [0-9.]+ ms .*binds nothing", err)
    assert "latency <= 22ms" in out  # read as milliseconds, as before


def test_search_notes_resolutions_the_table_lacks(cli, table, tmp_path):
    # A table cut to one resolution: the search says it considered only that one.
    rows = (table / "table.csv").read_text().splitlines()
    (table / "table.csv").write_text("\n".join([rows[0], *[r for r in rows[1:] if r.split(",")[1] == "32"]]) + "\n")
    code, _, err = cli("search", "--latency", "0.5ms", "-t", str(table), "--no-verify", "-o", str(tmp_path / "b.json"))
    assert code == 0, err
    assert "the latency table covers r 32 of the space's r 24..32 step 4, so the search considered only r 32" in err


def test_pareto_budgets_have_three_significant_digits_and_the_default_is_said(cli, table, tmp_path):
    code, out, err = cli("search", "--pareto", "--points", "4", "-t", str(table), "-o", str(tmp_path / "sw"))
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "sw").glob("subnet_*.json"))
    assert len(names) == 4
    for n in names:
        digits = re.fullmatch(r"subnet_lat(\d+)p(\d+)ms\.json", n) or re.fullmatch(r"subnet_lat(\d+)ms\.json", n)
        assert digits, n
        assert len("".join(digits.groups()).lstrip("0")) <= 3, n
    assert "the subnet of the last budget" in " ".join(out.split()) and "--subnet FILE" in out


def test_arch_labels_are_unique_per_subnet():
    a = Arch((3,) * 20, (4,) * 20, (4, 4, 4, 3, 4), 32)
    b = Arch((5,) + (3,) * 19, (4,) * 20, (4, 4, 4, 3, 4), 32)
    c = Arch((3,) * 15 + (5,) + (3,) * 4, (4,) * 20, (4, 4, 4, 3, 4), 32)  # only slot 15 differs: stage 4 has depth 3
    assert a.short() != b.short() and a.short().startswith("d44434@32#")
    assert Arch((3,) * 20, (4,) * 20, (4, 4, 4, 3, 4), 32).short() == a.short()
    assert a.short() == c.short()  # an unused slot is not part of the subnet
