"""Where things are: shipped resources come from the installed package, user tables come first,
the table resolver picks by space, and nothing is ever written among the shipped files.

Every test points `OFA_DEPLOY_HOME` at a temporary folder, so none reads or writes the real home.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.shared import REFERENCE, need_shared
from support.tables import synthetic_table

from ofa_deploy import paths
from ofa_deploy.devices import list_devices, load_device
from ofa_deploy.errors import LatencyTableError
from ofa_deploy.latency import LatencyTable, import_official, space_tag
from ofa_deploy.latency.resolve import default_space, resolve_table, save_calibration
from ofa_deploy.nn.shipped import shipped_spec
from ofa_deploy.space import SpaceSpec, Subnet, largest_arch, official_space, save_subnet
from ofa_deploy.train import load_recipe, recipe_names

W10 = SpaceSpec(width_mult=1.0, n_classes=10)
SHIPPED_DEVICES = ["cpu", "gpu", "note10", "note8", "pixel4", "rpi4", "rpi5"]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty user data folder; no other override of where tables and devices are."""
    for var in ("OFA_DEPLOY_TABLES", "OFA_DEPLOY_DEVICES", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- shipped resources -------------------------------------------------------------------------------
def test_shipped_resources_are_found_in_the_package(home):
    package = Path(paths.__file__).resolve().parent
    assert paths.shipped_dir() == package / "_data"
    assert sorted(p.stem for p in paths.shipped_devices_dir().glob("*.yaml")) == SHIPPED_DEVICES
    assert list_devices() == SHIPPED_DEVICES
    assert Path(load_device("cpu").source).parent == paths.shipped_devices_dir()
    tables = paths.shipped_tables_dir() / "cpu"
    assert sorted(p.name for p in tables.iterdir()) == ["w0.5_c10_in1", "w1.0_c10"]
    assert paths.shipped_recipe_names() == recipe_names() == ["demo-fmnist", "imagenet", "tiny-synthetic"]
    assert paths.shipped_recipe("demo-fmnist").is_file() and paths.shipped_recipe("no-such") is None
    assert load_recipe("demo-fmnist").space == shipped_spec() == default_space()
    assert paths.shipped_supernet().is_file() and paths.shipped_predictor().is_file()
    assert (paths.shipped_supernet_dir() / "report.json").is_file()
    assert paths.is_shipped(tables / "w1.0_c10" / "meta.yaml") and paths.is_shipped(paths.shipped_supernet())
    assert not paths.is_shipped(home) and not paths.is_shipped(package / "cli")


def test_user_folders_follow_the_environment(home, tmp_path, monkeypatch):
    assert paths.user_tables_dir() == home / "latency_tables"
    assert paths.user_devices_dir() == home / "devices"
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    assert paths.user_tables_dir() == tmp_path / "tables"
    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(tmp_path / "cache"))
    assert paths.block_cache_dir() == tmp_path / "cache" / "blocks"


def test_a_user_descriptor_is_found_before_the_shipped_one(home):
    (home / "devices").mkdir(parents=True)
    (home / "devices" / "cpu.yaml").write_text("name: cpu\nthreads: 2\n")
    (home / "devices" / "mybox.yaml").write_text("name: mybox\n")
    assert load_device("cpu").threads == 2 and load_device("mybox").connection == "local"
    assert list_devices() == ["cpu", "mybox", *SHIPPED_DEVICES[1:]]


# ---- the resolver ----------------------------------------------------------------------------------
def test_a_device_with_several_tables_is_chosen_by_space(home, cli):
    demo = resolve_table("cpu", None, None)  # no space named: the shipped supernet's
    assert (demo.folder.name, demo.origin) == ("w0.5_c10_in1", "shipped")
    assert resolve_table("cpu", None, W10).folder.name == "w1.0_c10"
    code, out, err = cli("lut", "show", "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["space"] == shipped_spec().describe()
    code, out, err = cli("lut", "show", "--device", "cpu", "--width", "1.0", "--classes", "10", "--json")
    assert code == 0 and json.loads(out)["space"] == W10.describe(), err
    code, out, err = cli("lut", "show", "--device", "cpu", "--width", "0.5", "--classes", "10",
                         "--in-channels", "1", "--json")
    assert code == 0 and json.loads(out)["space"] == shipped_spec().describe(), err
    code, out, err = cli("lut", "show", paths.shipped_tables_dir() / "cpu", "--width", "1", "--classes", "10",
                         "--json")  # a device folder given as a path: the same choice
    assert code == 0 and json.loads(out)["space"] == W10.describe(), err

    code, out, err = cli("lut", "show", "--device", "cpu", "--width", "0.75", "--classes", "10")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1
    assert "w0.5_c10_in1 (shipped)" in lines[0] and "w1.0_c10 (shipped)" in lines[0]
    assert "ofa-deploy profile --device cpu --width 0.75 --classes 10" in lines[0]


def test_the_users_table_comes_before_the_shipped_one(home, cli):
    spec = shipped_spec()
    mine = synthetic_table(spec, [24])
    mine.metadata["device"] = "cpu"
    folder = mine.save(paths.user_tables_dir() / "cpu" / space_tag(spec))
    for space in (spec, None):
        found = resolve_table("cpu", None, space)
        assert (found.folder, found.origin, len(found.table)) == (folder, "user", len(mine))
    assert resolve_table("cpu", None, W10).origin == "shipped"  # another space: the shipped one still serves
    code, out, err = cli("lut", "show", "--device", "cpu", "--json")
    assert code == 0 and json.loads(out)["resolutions"] == [24], err  # the shipped one has 24..32

    # A device only the user has: its one table, whatever its space; unknown devices name those there are.
    other = synthetic_table(W10, [224])
    other.metadata["device"] = "mybox"
    other.save(paths.user_tables_dir() / "mybox" / space_tag(W10))
    assert resolve_table("mybox", None, None).table.spec == W10
    with pytest.raises(LatencyTableError, match=r"no latency table for device 'nowhere' \(have: cpu, mybox\)"):
        resolve_table("nowhere", None, spec)


def test_an_official_yaml_folder_works_for_latency_predict(home, cli, tmp_path):
    note10 = need_shared(REFERENCE / "ofa" / "note10")
    spec = official_space(1.2)
    subnet = save_subnet(Subnet(spec, largest_arch(spec, 224)), tmp_path / "w12.json")
    expected = import_official(sorted(note10.glob("*_lookup_table.yaml")), spec).predict_arch(largest_arch(spec, 224))
    for table in (note10, note10 / "224_lookup_table.yaml"):  # the folder, or the one resolution's file
        code, out, err = cli("latency", "predict", subnet, "--table", table, "--json")
        assert code == 0, err
        r = json.loads(out)
        assert r["ms"] == pytest.approx(expected) and r["device"] == "note10"
    assert not paths.user_data_dir().exists()  # reading never writes


# ---- nothing is written among the shipped files ----------------------------------------------------------
def test_profile_writes_to_the_users_tables_folder(home, cli):
    before = _digests(paths.shipped_tables_dir())
    code, out, err = cli("profile", "--device", "cpu", "--resolutions", "24", "--sessions", "1", "--max-runs", "3",
                         "--subnets", "12", "--json")
    assert code == 0, err
    folder = home / "latency_tables" / "cpu" / space_tag(shipped_spec())
    assert Path(json.loads(out)["folder"]) == folder and (folder / "table.csv").exists()
    assert _digests(paths.shipped_tables_dir()) == before
    assert resolve_table("cpu", None, None).origin == "user"  # what it measured is used from now on


def test_calibrating_a_shipped_table_writes_a_calibrated_copy(home, cli):
    shipped = paths.shipped_tables_dir() / "cpu" / "w0.5_c10_in1"
    before = _digests(paths.shipped_tables_dir())
    code, out, err = cli("latency", "validate", "--device", "cpu", "--calibrate", "--samples", "4", "--sessions", "1",
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert _digests(paths.shipped_tables_dir()) == before
    copy = home / "latency_tables" / "cpu" / "w0.5_c10_in1"
    assert sorted(Path(f) for f in result["files"]) == [copy / "validation.csv", copy / "validation.png"]
    found = resolve_table("cpu", None, None)
    assert (found.folder, found.origin) == (copy, "user")
    assert found.table.calibration["a"] == pytest.approx(result["calibration"]["a"])
    assert found.table.rows == LatencyTable.load(shipped).rows

    # The shipped table named by path: its calibration would overwrite the user's copy, so it is refused.
    given = resolve_table(None, shipped, None)
    assert given.origin == "shipped" and given.writable_folder() == copy
    with pytest.raises(LatencyTableError, match="already holds a table"):
        save_calibration(given, {"kind": "linear", "a": 1.0, "b": 0.0})
    assert _digests(paths.shipped_tables_dir()) == before


def test_a_users_own_table_is_calibrated_in_place(home, tmp_path):
    table = synthetic_table(W10, [224])
    folder = table.save(tmp_path / "mine")
    found = resolve_table(None, folder, None)
    assert found.origin == "path" and found.writable_folder() == folder
    assert save_calibration(found, {"kind": "linear", "a": 2.0, "b": 0.5}) == folder
    assert LatencyTable.load(folder).calibration["a"] == 2.0
    assert not paths.user_data_dir().exists()


def test_a_calibrated_official_table_is_saved_among_the_users_tables(home):
    note10 = need_shared(REFERENCE / "ofa" / "note10")
    found = resolve_table(None, note10, None)
    assert found.origin == "official" and found.table.spec == official_space(1.2)
    folder = save_calibration(found, {"kind": "linear", "a": 1.1, "b": 0.0})
    assert folder == home / "latency_tables" / "note10" / space_tag(official_space(1.2))
    assert resolve_table("note10", None, official_space(1.2)).table.calibration["a"] == 1.1
