"""The library functions the commands call since `cli/` holds no decisions (issue #24 item 5):
each is usable without the CLI, checks what it is given before anything is read or written, and
raises typed errors (one line through the CLI's boundary)."""

from __future__ import annotations

import json

import pytest
from support.spaces import PROFILE_SPEC
from support.tables import synthetic_table

from ofa_deploy.devices.imported import import_tables, int_list, official_files
from ofa_deploy.errors import BadValueError, OfaDeployError
from ofa_deploy.latency import LatencyTable, export_official
from ofa_deploy.latency.options import protocol_for
from ofa_deploy.latency.protocol import Protocol
from ofa_deploy.space import Arch, Subnet, official_space, save_subnet
from ofa_deploy.space.options import space_from_options
from ofa_deploy.space.summary import subnet_summary
from ofa_deploy.subnet_convert import convert_subnet


def test_protocol_for_checks_the_options_then_is_for_runs():
    assert protocol_for(3, 200, 7) == Protocol.for_runs(3, 200, 7)
    assert protocol_for(2, 5) == Protocol(sessions=2, max_runs=5, min_runs=5)
    for bad in ((0, 200, 0), (3, 0, 0), (3, 200, -1), (float("nan"), 200, 0)):
        with pytest.raises(BadValueError):
            protocol_for(*bad)


def test_space_from_options_none_defaults_and_checks():
    assert space_from_options(None, None, None, None) is None
    spec = space_from_options(None, 10, None, None)
    assert (spec.width_mult, spec.n_classes, spec.in_channels, spec.kind) == (1.0, 10, 3, "ofa_mbv3")
    with pytest.raises(BadValueError, match="--width"):
        space_from_options(-1.0, None, None, None)


def test_lut_import_checks_before_reading(tmp_path):
    with pytest.raises(BadValueError, match="no \\*_lookup_table.yaml files given"):
        official_files([tmp_path])
    assert int_list("3, 6,", "--expands") == (3, 6)
    for text, said in (("3,x", "takes integers"), (",", "is empty")):
        with pytest.raises(BadValueError, match=said):
            int_list(text, "--expands")
    (tmp_path / "160_lookup_table.yaml").write_text("{}\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("not a table")
    with pytest.raises(OfaDeployError):  # an --out folder that holds another kind of output
        import_tables([tmp_path / "160_lookup_table.yaml"], "x", None, 1000, 3, "ofa_mbv3", None, other, False)
    assert sorted(p.name for p in other.iterdir()) == ["x.txt"]


def test_lut_import_library_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    lut = synthetic_table(PROFILE_SPEC, [24])
    export_official(lut, tmp_path / "yaml")
    table, folder, written = import_tables([tmp_path / "yaml"], "newboard", PROFILE_SPEC.width_mult,
                                           PROFILE_SPEC.n_classes, PROFILE_SPEC.in_channels, PROFILE_SPEC.kind,
                                           None, tmp_path / "t", False)
    assert folder == tmp_path / "t" and len(LatencyTable.load(folder)) == len(table) > 0
    assert written == tmp_path / "home" / "devices" / "newboard.yaml" or written.is_relative_to(tmp_path / "home")


def test_convert_subnet_writes_only_with_an_out_path(tmp_path):
    sub = Subnet(official_space(1.0), Arch((3, 5, 7, 3) * 5, (3, 4, 6, 4) * 5, (2, 3, 4, 3, 2), 192))
    src = save_subnet(sub, tmp_path / "s.json")
    before = sorted(tmp_path.iterdir())
    assert convert_subnet(src, "net-config").arch == sub.arch
    assert sorted(tmp_path.iterdir()) == before  # nothing written without --out
    convert_subnet(src, "net-config", tmp_path / "n" / "net.config")
    assert json.loads((tmp_path / "n" / "run.config").read_text())["image_size"] == 192


def test_subnet_summary_adds_up_its_stages():
    sub = Subnet(official_space(1.0), Arch((3, 5, 7, 3) * 5, (3, 4, 6, 4) * 5, (2, 3, 4, 3, 2), 192))
    info = subnet_summary(sub)
    assert [s["depth"] for s in info["stages"]] == [2, 3, 4, 3, 2]
    assert 0 < sum(s["params"] for s in info["stages"]) < info["params"]
    assert 0 < sum(s["macs"] for s in info["stages"]) < info["macs"]


def _export_args(**over):
    args = {"fmt": "onnx", "subnet": None, "int8": False, "dynamic_range": False, "supernet": None, "out": None,
            "recalibrate": True, "data": None, "dynamic_batch": False, "verify_images": 300, "force": False,
            "bn_images": None, "bn_batch": 200, "bn_transform": None, "workers": None, "skip_bad_images": False,
            "threads": None, "rtol": None, "atol": None, "max_drop": 0.5, "calibration_images": 300}
    return {**args, **over}


def test_export_options_are_checked_in_the_library():
    from ofa_deploy.export.options import export_options
    from ofa_deploy.export.parity import RTOL, Tolerance

    opts = export_options(**_export_args())
    assert opts.tolerance is None and (opts.bn.images, opts.bn.batch, opts.bn.transform) == (None, 200, None)
    assert export_options(**_export_args(rtol=1e-3)).tolerance == Tolerance(1e-3, 0.0)
    assert export_options(**_export_args(atol=0.5)).tolerance == Tolerance(RTOL, 0.5)
    for over, match in (({"bn_transform": "x"}, "--bn-transform 'x': choose train or eval"),
                        ({"bn_batch": 0}, "--bn-batch"), ({"workers": 999}, "--workers"),
                        ({"rtol": 5.0}, "--rtol"), ({"calibration_images": 0}, "--calibration-images")):
        with pytest.raises(BadValueError, match=match):
            export_options(**_export_args(**over))


def test_predictor_import_and_fit_check_before_reading(tmp_path):
    from ofa_deploy.predictor.fit import fit_file
    from ofa_deploy.predictor.official import import_official_file

    out = tmp_path / "p.npz"
    with pytest.raises(BadValueError, match="--width"):
        import_official_file(tmp_path / "absent.pth", out, -1.0)
    with pytest.raises(BadValueError, match="--holdout"):
        fit_file(tmp_path / "absent", out, 2.0, 0, "8,8", 1e-4)
    with pytest.raises(BadValueError):
        fit_file(tmp_path / "absent", out, 0.2, 0, "8,x", 1e-4)
    assert list(tmp_path.iterdir()) == []
