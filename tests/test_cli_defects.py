"""Defects found by reading the commands (issue #24, item 5), one test each: `lut import --kind
ofa_resnet50`, `latency validate --table` of another device, a `net.config` converted again,
`train --compare-scratch` checked before the training, one `Protocol.for_runs`, `lut show`'s
calibration line."""

from __future__ import annotations

import json

from support.outputs import one_error_line, snapshot
from support.spaces import PROFILE_SPEC
from support.tables import synthetic_table

from ofa_deploy.latency import LatencyTable, Row, export_official, resolution_keys
from ofa_deploy.latency.protocol import Protocol
from ofa_deploy.space import Arch, Subnet, load_subnet, official_space, save_subnet


# ---- lut import --kind ofa_resnet50 ------------------------------------------------------------------
def test_lut_import_of_resnet50_tables_round_trips(cli, tmp_path):
    spec = official_space(None, 1000, "ofa_resnet50")
    rows = [Row(k, 160, 5, 0.1 + i / 1000) for i, k in enumerate(resolution_keys(spec, 160).distinct())]
    export_official(LatencyTable(spec, rows, {"device": "x", "stat": "mean", "calibration": None}), tmp_path / "yaml")
    code, out, err = cli("lut", "import", tmp_path / "yaml", "-d", "r50board", "--kind", "ofa_resnet50",
                         "-o", tmp_path / "t", "--json")
    assert code == 0, err  # was: AttributeError traceback ('ResNet50Spec' object has no attribute 'width_mult')
    assert json.loads(out)["rows"] == len(rows)
    table = LatencyTable.load(tmp_path / "t")
    assert table.spec == spec and {r.key: r.mean for r in table.rows} == {r.key: r.mean for r in rows}


def test_lut_import_resnet50_refuses_the_mobilenet_options(cli, tmp_path):
    (tmp_path / "160_lookup_table.yaml").write_text("{}\n")
    for extra in (["--width", "1.0"], ["--expands", "3,6"]):
        code, _, err = cli("lut", "import", tmp_path / "160_lookup_table.yaml", "-d", "x", "--kind", "ofa_resnet50",
                           "-o", tmp_path / "t", *extra)
        one_error_line(code, err, "--width and --expands describe the MobileNet kinds", "OFA-ResNet50")
        assert not (tmp_path / "t").exists()


# ---- latency validate --table T ------------------------------------------------------------------------
def test_validate_times_a_named_table_on_its_own_device_only(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    table = tmp_path / "t"
    lut = synthetic_table(PROFILE_SPEC, [24])
    lut.metadata["device"] = "elsewhere"
    lut.save(table)
    before = snapshot(table)
    args = ("latency", "validate", "--table", table, "-n", "2", "--sessions", "1", "--out", tmp_path / "v")
    # -d naming another device: refused (its band would be stored in this table's metadata)
    code, _, err = cli(*args, "-d", "cpu")
    one_error_line(code, err, "measured on 'elsewhere'", "'cpu'")
    # no -d: the table's own device (one this machine cannot reach), never the local CPU
    code, _, err = cli(*args)
    one_error_line(code, err, "elsewhere")
    assert snapshot(table) == before and not (tmp_path / "v").exists()


# ---- subnet convert --to net-config, twice ---------------------------------------------------------------
def test_net_config_converted_again_is_read_back_at_its_new_resolution(cli, tmp_path):
    w10 = official_space(1.0)
    folder = tmp_path / "net"
    folder.mkdir()
    (folder / "run.config").write_text(json.dumps({"image_size": 160, "n_epochs": 5}))  # official: more fields
    for r in (176, 224):
        src = save_subnet(Subnet(w10, Arch((3, 5, 7, 3) * 5, (3, 4, 6, 4) * 5, (2, 3, 4, 3, 2), r)),
                          tmp_path / f"s{r}.json")
        code, _, err = cli("subnet", "convert", src, "--to", "net-config", "-o", folder / "net.config")
        assert code == 0, err
        assert load_subnet(folder / "net.config").arch.r == r  # was: 160 both times (run.config kept)
        assert json.loads((folder / "run.config").read_text()) == {"image_size": r, "n_epochs": 5}


# ---- train --compare-scratch ---------------------------------------------------------------------------
def test_train_checks_compare_scratch_before_training(cli, tmp_path):
    not_a_run = tmp_path / "nothing"
    not_a_run.mkdir()
    out = tmp_path / "run"
    code, _, err = cli("train", "--recipe", "tiny-synthetic", "--out", out, "--compare-scratch", not_a_run)
    one_error_line(code, err, str(not_a_run), "--from-scratch")
    assert not out.exists()  # nothing trained, nothing written


# ---- one Protocol.for_runs -----------------------------------------------------------------------------
def test_protocol_for_runs_stops_no_earlier_than_20_runs_or_all_of_them():
    assert Protocol.for_runs(3, 200, 7) == Protocol(sessions=3, max_runs=200, min_runs=20, seed=7)
    assert Protocol.for_runs(1, 5) == Protocol(sessions=1, max_runs=5, min_runs=5)
    assert Protocol.for_runs() == Protocol()


# ---- lut show ------------------------------------------------------------------------------------------
def test_lut_show_prints_the_stored_calibration(cli, tmp_path):
    lut = synthetic_table(PROFILE_SPEC, [24])
    lut.set_calibration({"kind": "linear", "a": 1.25, "b": 0.5})
    lut.save(tmp_path / "t")
    code, out, err = cli("lut", "show", tmp_path / "t")
    assert code == 0, err
    assert "ms = 1.2500 * sum + 0.5000" in " ".join(out.split())
