"""What each step of the flow takes from the records of the one before (`flow`, `records`)."""

from __future__ import annotations

import pytest

from ofa_deploy import flow, records
from ofa_deploy.errors import RecordError
from ofa_deploy.space import SpaceSpec, official_space

DEMO = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1, resolutions=(24, 28, 32))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    return tmp_path


def profiled(tmp_path, device="note8", spec=DEMO):
    folder = tmp_path / "t"
    folder.mkdir(exist_ok=True)
    (folder / "meta.yaml").write_text("device: x\n")
    records.remember_profile(device, folder, spec.to_dict())
    return folder.resolve()


def test_records_live_in_the_user_data_folder(home):
    path = records.remember_profile("cpu", home, DEMO.to_dict())
    assert path == home / "home" / "records" / "last_profile.json"
    assert records.read_record(records.PROFILE)["device"] == "cpu"
    assert records.read_record(records.SEARCH) is None


def test_search_device_defaults(home):
    # Nothing recorded: the default device, said once.
    assert flow.search_device(None, None, DEMO, True)[:2] == ("cpu", None)
    # No latency needed and no device named: no table at all.
    assert flow.search_device(None, None, DEMO, False) == (None, None, [])
    folder = profiled(home)
    device, table, notes = flow.search_device(None, None, DEMO, True)
    assert (device, table) == ("note8", folder) and len(notes) == 1 and "last `ofa-deploy profile`" in notes[0]
    assert flow.search_device("note8", None, DEMO, True)[1] == folder  # the same device named
    assert flow.search_device("cpu", None, DEMO, True)[:2] == ("cpu", None)  # another device: its own table
    assert flow.search_device(None, None, official_space(1.2), True)[:2] == ("note8", None)  # another space
    assert flow.search_device(None, home / "x", DEMO, True) == (None, home / "x", [])  # --table wins


def test_last_export_is_checked_unchanged(home):
    with pytest.raises(RecordError, match="nothing has been exported yet"):
        records.last_export_path()
    f = home / "m.onnx"
    f.write_bytes(b"model")
    records.remember_export(f, device="note8")
    assert flow.benchmark_inputs(None, None)[:2] == (f.resolve(), "note8")
    assert flow.benchmark_inputs(home / "other.onnx", None)[1] == "cpu"  # not the export: the default
    f.write_bytes(b"changed")
    with pytest.raises(RecordError, match="changed since"):
        records.last_export_path()


def test_suggested_budget_is_the_middle_subnets_latency():
    from support.tables import synthetic_table

    from ofa_deploy.space import middle_arch

    table = synthetic_table(DEMO, [24, 32])
    ms = table.predict_arch(middle_arch(DEMO, 32))
    cmd = flow.next_after_profile(table)
    assert cmd.startswith("ofa-deploy search --latency ") and cmd.endswith("ms")
    assert float(cmd.split()[-1].removesuffix("ms")) == pytest.approx(ms, rel=0.05)


def test_shipped_supernet_named_without_torch_is_the_shipped_one():
    from ofa_deploy.nn.shipped import shipped_supernet_path

    assert flow.SHIPPED_SUPERNET == shipped_supernet_path()
