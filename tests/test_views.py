"""`views`: what the commands print, called as library functions on real library results, without
typer (the command line's own output is pinned by test_cli, test_terminal, test_faults...). Each
view prints to the console it is given; the `--json` form is strict JSON on stdout."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from support.spaces import PROFILE_SPEC
from support.tables import synthetic_table

from ofa_deploy.errors import LatencyTableError
from ofa_deploy.latency import LatencyTable
from ofa_deploy.latency.repair import repair_table
from ofa_deploy.latency.resolve import resolve_table, table_of_options
from ofa_deploy.latency.rows import TABLE_FILE
from ofa_deploy.predictor import Predictor
from ofa_deploy.predictor.store import default_predictor_path
from ofa_deploy.space import Arch, Subnet, official_space
from ofa_deploy.space.summary import subnet_summary
from ofa_deploy.views import latency, predictor, repair, search, subnet
from ofa_deploy.views.progress import stage_bar


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200), buf


def _words(buf: io.StringIO) -> str:
    return " ".join(buf.getvalue().split())


def test_lut_show_prints_to_the_console_given_and_json_to_stdout(capsys):
    table = resolve_table("cpu").table
    out, buf = _console()
    latency.table_shown(table, None, False, out)
    text = _words(buf)
    assert "device cpu" in text and f"rows {len(table)}" in text and "calibration" in text
    assert "validation" in text  # the stored record, or how to make one
    assert capsys.readouterr().out == ""  # nothing on stdout: the console given took it all
    r = table.resolutions[0]
    latency.table_shown(table, r, True, out)
    doc = json.loads(capsys.readouterr().out)
    assert doc["device"] == "cpu" and len(doc["rows"]) == sum(row.resolution == r for row in table.rows)


def test_table_of_options_takes_the_table_given_over_the_device(tmp_path):
    folder = tmp_path / "t"
    synthetic_table(PROFILE_SPEC, [24]).save(folder)
    assert table_of_options("cpu", folder, None).device == "fake"  # --table wins over --device
    assert table_of_options("cpu", None, None).device == "cpu"


def test_repair_view_says_what_was_dropped(tmp_path):
    folder = tmp_path / "table"
    table = synthetic_table(PROFILE_SPEC, [32])
    table.save(folder)
    lines = (folder / TABLE_FILE).read_text().splitlines(keepends=True)
    fields = lines[5].rstrip("\n").split(",")
    fields[3] = "9.5"  # the same key again with another mean: a conflict
    with open(folder / TABLE_FILE, "a") as f:
        f.writelines(lines[1:3])
        f.write(",".join(fields) + "\n")
    with pytest.raises(LatencyTableError):
        LatencyTable.load(folder)
    out, buf = _console()
    repair.table_repaired(repair_table(folder), False, out)
    text = _words(buf)
    assert f"kept {len(table)} unique rows" in text and "dropped 2 identical" in text and "1 conflicting" in text
    assert "conflict" in text and "kept mean" in text and "9.5000" in text
    out, buf = _console()
    repair.table_repaired(repair_table(folder), False, out)
    assert "nothing to repair" in buf.getvalue()


def test_predictor_and_subnet_views_describe_what_they_are_given():
    path = default_predictor_path()
    if path is None:
        pytest.skip("no shipped predictor in this checkout")
    out, buf = _console()
    predictor.shown(path, Predictor.load(path).summary(), False, out)
    text = _words(buf)
    assert f"predictor {path}" in text and "encoding" in text and "resolutions r" in text
    sub = Subnet(official_space(1.0), Arch((3, 5, 7, 3) * 5, (3, 4, 6, 4) * 5, (2, 3, 4, 3, 2), 192))
    info = subnet_summary(sub)
    out, buf = _console()
    subnet.shown("s.json", sub, False, out)
    text = _words(buf)
    assert "resolution 192 px" in text and f"({info['params']:,})" in text and "rest" in text


def test_search_view_prints_the_results_and_the_next_steps(tmp_path):
    from ofa_deploy.search import EvolutionConfig, SearchRequest, run_search

    req = SearchRequest.from_text("30ms", device="cpu", out=tmp_path / "s.json", verify=False,
                                  config=EvolutionConfig(population=20, generations=5))
    outcome = run_search(req)
    out, buf = _console()
    search.results(outcome, 0, out)
    text = _words(buf)
    assert "search on cpu" in text and "latency <= 30ms" in text and f"wrote {tmp_path / 's.json'}" in text
    assert "next: ofa-deploy export" in text


def test_stage_bar_draws_the_sessions_and_nothing_without_any():
    out, buf = _console()
    with stage_bar("profiling", 0, out) as callbacks:
        assert callbacks == (None, None)
    assert buf.getvalue() == ""
    with stage_bar("profiling", 2, out) as (on_session, on_resolution):
        on_resolution(24, "measuring")
        on_session("s")
        on_session("s")
    assert buf.getvalue().startswith("r=24 measuring") and " 2/2 " in buf.getvalue()  # the final state
