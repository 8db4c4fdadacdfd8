"""The adb backend through the real `adb` client and server, against a loopback device daemon.

`remote_fixtures.fake_adbd` speaks the adb transport protocol (CNXN/OPEN/OKAY/WRTE/CLSE, shell
v2, sync push/pull) and runs shell commands in a sandbox; the tests `adb connect` to it on a
private adb server port, so they never touch a real phone or the user's adb server. The program
pushed as `benchmark_model` is a clearly labelled stand-in (remote_fixtures/fake_benchmark_model.py)
that prints the real tool's output format while timing the model with the LiteRT interpreter.

Pinned down: the device is chosen by --serial or as the only one attached (and it says so); no
device is an error showing what `adb devices` printed; a reduced table is measured with the
descriptor's threads, delegate and cores (taskset), per-op profiles kept; the thermal guard waits
while a zone is hot; a device that drops off mid-run is waited for and the run carries on, or the
rows stay and a rerun completes the table without losing or duplicating a row.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from remote_fixtures.fake_adbd import A_VERSION_MIN, FakeAdbDaemon, adb_available
from support.ports import free_port
from support.spaces import PROFILE_SPEC

from ofa_deploy.devices import DeviceDescriptor
from ofa_deploy.errors import DeviceError
from ofa_deploy.latency import LatencyTable, resolution_keys
from ofa_deploy.latency.protocol import Protocol

pytestmark = [pytest.mark.remote,
              pytest.mark.skipif(adb_available() is None, reason="the `adb` client is missing (apt install adb)")]

torch = pytest.importorskip("torch")
pytest.importorskip("ai_edge_litert")

from ofa_deploy.devices.adb import AdbBackend
from ofa_deploy.latency.profiler import plan_profile, run_profile

SPEC = PROFILE_SPEC
FAST = Protocol(warmup=2, min_runs=5, max_runs=5, check_every=5, sessions=2, chunk=2)
STAND_IN = Path(__file__).parent / "remote_fixtures" / "fake_benchmark_model.py"


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory):
    """A private adb server (its own port and HOME), killed at the end."""
    home = tmp_path_factory.mktemp("adb-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANDROID_ADB_SERVER_PORT", str(free_port()))
        mp.setenv("HOME", str(home))
        mp.delenv("ANDROID_SERIAL", raising=False)
        subprocess.run(["adb", "start-server"], capture_output=True, timeout=60, check=True)
        yield
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=60, check=False)


def adb(*args: str) -> str:
    out = subprocess.run(["adb", *args], capture_output=True, text=True, timeout=60, check=False)
    return out.stdout + out.stderr


def connect(serial: str) -> None:
    deadline = time.monotonic() + 10
    adb("disconnect", serial)  # a stale (offline) transport would be retried only after a back-off
    while time.monotonic() < deadline:
        adb("connect", serial)
        if f"{serial}\tdevice" in adb("devices"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"adb did not attach {serial}: {adb('devices')}")


@pytest.fixture
def phone(adb_server, tmp_path):
    d = FakeAdbDaemon(tmp_path / "phone").start()
    connect(d.serial)
    yield d
    d.stop()
    adb("disconnect", d.serial)


def descriptor(**guard) -> DeviceDescriptor:
    return DeviceDescriptor(name="loopphone", connection="adb", runtime="tflite", threads=1, delegate="xnnpack",
                            cores=[0], guard={"max_temp_c": 60, "resume_temp_c": 50, "poll_s": 0.1, "max_wait_s": 20,
                                              "reconnect_s": 2, **guard},
                            extra={"op_profiling": True})


def backend(cache, serial=None, **guard) -> AdbBackend:
    return AdbBackend(descriptor(**guard), serial=serial, benchmark_binary=str(STAND_IN), cache=cache)


def small_plan(folder, info):
    """Four entries (a stem, a block, the head): the SSH tests' tflite run converts the same ones."""
    plan = plan_profile(SPEC, "loopphone", info, [24], folder, FAST)
    every = resolution_keys(SPEC, 24).distinct()
    chosen = set(every[:2] + every[-2:])
    plan.todo = {r: [k for k in keys if k in chosen] for r, keys in plan.todo.items()}
    return plan


# ---- choosing the device ----------------------------------------------------------------------------
def test_no_device_shows_what_adb_devices_printed(adb_server, cache):
    with pytest.raises(DeviceError, match="no Android device is attached") as e:
        backend(cache).info()
    assert "List of devices attached" in str(e.value) and "--serial" in str(e.value)
    with pytest.raises(DeviceError, match="benchmark-binary"):
        AdbBackend(descriptor())


def test_the_only_device_is_used_and_it_says_so(phone, cache):
    b = backend(cache)
    info = b.info()
    assert info["serial"] == phone.serial and "the only device attached" in info["note"]
    assert info["host_cpu"].startswith("OFA-Stand-In") and info["runtime_version"].startswith("benchmark_model sha256:")
    assert info["threads"] == 1 and info["delegate"] == "xnnpack" and info["cores"] == [0]
    with pytest.raises(DeviceError, match="not attached") as e:
        backend(cache, serial="nosuchphone").info()
    assert phone.serial in str(e.value)  # what `adb devices` printed


def test_older_protocol_version_with_payload_checksums(adb_server, tmp_path, cache):
    with FakeAdbDaemon(tmp_path / "old", version=A_VERSION_MIN) as d:
        connect(d.serial)
        assert backend(cache, serial=d.serial).info()["host_cpu"].startswith("OFA-Stand-In")
        assert d.log[0][0] == "CNXN"
    adb("disconnect", d.serial)


# ---- profiling --------------------------------------------------------------------------------------
def test_profile_pins_cores_waits_for_cooling_and_keeps_op_profiles(phone, net, tmp_path, cache):
    zones = phone.sandbox / "sys/class/thermal"
    for i, milli in enumerate((71000, 30000)):
        (zones / f"thermal_zone{i}").mkdir(parents=True, exist_ok=True)
        (zones / f"thermal_zone{i}" / "temp").write_text(f"{milli}\n")
    cool = threading.Timer(1.0, lambda: (zones / "thermal_zone0" / "temp").write_text("45000\n"))
    b = backend(cache, serial=phone.serial)
    folder = tmp_path / "t"
    plan = small_plan(folder, b.info())
    assert b.info()["temp_c"] == 71.0

    def on_resolution(_r, phase):  # the phone cools down a second after measuring starts
        if phase == "measuring" and not cool.is_alive():
            cool.start()

    try:
        assert run_profile(plan, SPEC, net, b, FAST, on_resolution=on_resolution) == 4
    finally:
        cool.cancel()
    table = LatencyTable.load(folder)
    assert len(table) == 4 and all(r.count == 10 and 0 < r.median < 50 for r in table.rows)
    thermal = table.metadata["remote_thermal"]
    assert thermal["cooldown_waits"] >= 1 and thermal["cooldown_s"] >= 0.5 and thermal["temp_max_c"] == 71.0
    runs = [c for c in phone.commands if "--graph=" in c]
    assert len(runs) == 8 and all(c.startswith("taskset 1 ") for c in runs)
    assert all("--num_threads=1" in c and "--use_xnnpack=true" in c and "--num_runs=5" in c for c in runs)
    ops = [json.loads(x) for x in (folder / "ops.jsonl").read_text().splitlines()]
    assert len(ops) == 8 and all(abs(sum(op["percent"] for op in o["ops"]) - 100) < 1 for o in ops)
    assert not list((phone.sandbox / "data/local/tmp/ofa-deploy").glob("bundle-*"))  # cleaned up on the phone


@pytest.mark.slow  # ~29 s: converts the fit's subnets
def test_profile_with_fit_times_the_fit_subnets_in_the_blocks_bundle(phone, net, tmp_path, cache):
    """A remote profile that a fit follows: the fit's stitched subnets (.tflite) are pushed in the
    blocks' own bundle and timed by benchmark_model in the same run, after the blocks; their times
    are kept for the fit (its checkpoint), which then sends nothing more to the phone. The phone's
    governors / temperature (or null and why) are in the table's metadata."""
    from ofa_deploy.latency.incontext import FitRequest, fit_subnets

    b = backend(cache, serial=phone.serial)
    folder = tmp_path / "t"
    plan = small_plan(folder, b.info())
    fit = FitRequest(subnets=2, seed=0)
    n = len(fit_subnets(SPEC, 24, fit.subnets, fit.seed))
    pushes = len([c for c in phone.commands if "mkdir -p" in c])
    assert run_profile(plan, SPEC, net, b, FAST, fit=fit) == 4  # rows: the blocks only
    runs = [c for c in phone.commands if "--graph=" in c]
    assert len(runs) == (4 + n) * FAST.sessions and len({c.split("--graph=")[1].split("/")[-3] for c in runs}) == 1
    assert len([c for c in phone.commands if "mkdir -p" in c]) == pushes + 1  # one bundle installed
    kept = (folder / ".fit-r24.partial.jsonl").read_text().splitlines()
    assert len(kept) == 1 + n  # identity line + one per subnet
    # the fit (here on a synthetic prior: the table holds 4 of the resolution's rows) finds every
    # subnet's time kept, and sends nothing more to the phone
    from support.tables import synthetic_table

    from ofa_deploy.latency.incontext import fit_checkpoint, incontext_rows

    b.measure_models = lambda *a, **k: pytest.fail("the fit's subnets were timed again")
    prior = synthetic_table(SPEC, [24])
    prior.metadata.update(device="loopphone", stat="median")
    checkpoint = fit_checkpoint(folder, 24, fit.subnets, fit.seed, "median", FAST, b.info(), SPEC)
    rows, record = incontext_rows(prior, 24, net, b, FAST, "fit", fit.subnets, seed=fit.seed, checkpoint=checkpoint)
    assert record["subnets"] == n and any(r.method == "fit" for r in rows)
    assert len([c for c in phone.commands if "--graph=" in c]) == len(runs)
    table = LatencyTable.load(folder)
    state = table.metadata["device_state"]
    assert state["governors"] is None and "descriptor" not in state["governors_reason"]  # cores [0], none readable
    assert state["temp_c"] is None and "thermal" in state["temp_reason"]
    assert not list((phone.sandbox / "data/local/tmp/ofa-deploy").glob("bundle-*"))


def test_a_device_that_comes_back_is_waited_for(phone, net, tmp_path, cache):
    b = backend(cache, serial=phone.serial, reconnect_s=30)
    plan = small_plan(tmp_path / "t", b.info())
    restarted = []

    def unplug(_name):
        if len(restarted) == 0 and len([c for c in phone.commands if "--graph=" in c]) == 3:
            phone.stop()
            restarted.append(threading.Timer(1.0, phone.start))
            restarted[0].start()

    assert run_profile(plan, SPEC, net, b, FAST, on_session=unplug) == 4
    table = LatencyTable.load(tmp_path / "t")
    assert len(table) == 4 and table.metadata["adb_reconnects"] >= 1


def test_a_lost_device_keeps_rows_and_a_rerun_completes(phone, net, tmp_path, cache):
    folder = tmp_path / "t"
    b = backend(cache, serial=phone.serial, reconnect_s=1)
    plan = small_plan(folder, b.info())
    sessions = 0

    def unplug(_name):
        nonlocal sessions
        sessions += 1
        if sessions == 5:  # the first chunk (2 entries x 2 sessions) is written, the second under way
            phone.stop()

    with pytest.raises(DeviceError, match="rerun the same command") as lost:
        run_profile(plan, SPEC, net, b, FAST, on_session=unplug)
    assert "2 new row(s) were kept" in str(lost.value)
    kept = LatencyTable.load(folder)
    assert len(kept) == 2

    phone.start()  # plugged in again, same serial
    connect(phone.serial)
    b2 = backend(cache, serial=phone.serial)
    plan2 = small_plan(folder, b2.info())
    assert plan2.done == 2 and plan2.n_todo == 2
    assert run_profile(plan2, SPEC, net, b2, FAST) == 2
    table = LatencyTable.load(folder)  # refuses duplicate rows
    assert len(table) == 4 and len((folder / "table.csv").read_text().splitlines()) == 5
    assert not list((phone.sandbox / "data/local/tmp/ofa-deploy").glob("bundle-*"))  # the stale bundle went too
    assert {r.key: r for r in kept.rows}.items() <= {r.key: r for r in table.rows}.items()


def test_profile_command_errors_for_adb_devices(adb_server, cli, tmp_path):
    code, _, err = cli("profile", "--device", "pixel4", "--width", "0.5", "--classes", "10")
    assert code == 2 and "--benchmark-binary" in err
    code, _, err = cli("profile", "--device", "pixel4", "--serial", "nosuchphone", "--benchmark-binary", STAND_IN,
                       "--width", "0.5", "--classes", "10", "--out", tmp_path / "t")
    assert code == 2 and "nosuchphone is not attached" in err


def small_budget(table: LatencyTable, spec) -> float:
    """A budget (ms) that the synthetic table's smallest subnets meet: the search then hands on small subnets,
    which convert to .tflite in ~9 s against ~14 s for the largest (what a 1000 ms budget picked). The
    synthetic rows (0.01-2 ms a block) predict far more than this CPU measures, so they also meet it measured."""
    from ofa_deploy.space import smallest_arch

    return round(1.1 * table.predict_arch(smallest_arch(spec, 24)), 3)


@pytest.mark.slow
def test_search_verify_over_adb(phone, tmp_path, cache, cli, monkeypatch):
    """`search --verify` on an adb device: the top candidates are converted to .tflite, pushed in one
    bundle and timed by benchmark_model in the protocol's loop (the stand-in times them with the
    LiteRT interpreter); the subnet file records predicted and measured latency and the rounds.
    The table is a synthetic one of the demo space (profiling one over adb converts every block)."""
    import yaml
    from support.tables import synthetic_table

    from ofa_deploy.predictor import Predictor, default_predictor_path

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    d = descriptor().to_dict()
    d.update(name="loopphone", extra={})
    dev = tmp_path / "loopphone.yaml"
    dev.write_text(yaml.safe_dump(d))
    spec = Predictor.load(default_predictor_path()).spec
    lut = synthetic_table(spec, [24])
    lut.metadata.update(device="loopphone", runtime="tflite", threads=1,
                        protocol={"sessions": 1, "max_runs": 5})
    table = lut.save(tmp_path / "table")
    budget = small_budget(lut, spec)
    calls = []
    real = AdbBackend.measure_models

    def spy(self, models, *a, **k):
        calls.append([m.key for m in models])
        return real(self, models, *a, **k)

    monkeypatch.setattr(AdbBackend, "measure_models", spy)
    out = tmp_path / "s.json"
    code, stdout, err = cli("search", "--device", dev, "--serial", phone.serial, "--benchmark-binary", STAND_IN,
                            "--table", table, "--latency", f"{budget}ms", "--verify", "--verify-top", "2", "-o", out,
                            "--json")
    assert code == 0, err
    v = json.loads(stdout)["verified"]
    cands = v["rounds"][0]["candidates"]
    assert calls == [["subnet0", "subnet1"]] and len(cands) == 2 and v["met"]
    assert all(0 < c["measured_ms"] < budget for c in cands) and v["measured_ms"] == cands[0]["measured_ms"]
    meta = json.loads(out.read_text())["meta"]
    assert meta["verified"]["rounds"] == v["rounds"] and meta["predicted"]["latency_ms"] == v["predicted_ms"]


@pytest.mark.slow
def test_benchmark_over_adb_times_the_exported_tflite_with_benchmark_model(phone, tmp_path, cache, cli, monkeypatch):
    """`benchmark` of an exported .tflite on an adb device: pushed as a one-model bundle and timed by
    benchmark_model in the protocol's loop, with the thermal guard; measured vs predicted vs budget
    (p10/p90 unknown: benchmark_model reports session means). An .onnx file is refused with what to
    do. The table is a synthetic one of the demo space, as in the `search --verify` test above."""
    import yaml
    from support.tables import synthetic_table

    from ofa_deploy.predictor import Predictor, default_predictor_path

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    d = descriptor().to_dict()
    d.update(name="loopphone", extra={})
    dev = tmp_path / "loopphone.yaml"
    dev.write_text(yaml.safe_dump(d))
    lut = synthetic_table(Predictor.load(default_predictor_path()).spec, [24])
    lut.metadata.update(device="loopphone", runtime="tflite", threads=1, protocol={"sessions": 1, "max_runs": 5})
    table = lut.save(tmp_path / "table")
    # 1000 ms: the largest subnet, which test_remote_ssh's benchmark test exports the same way (--no-recalibrate):
    # whichever runs second takes the .tflite conversion from the run's cache.
    budget = 1000
    code, _, err = cli("search", "--table", table, "--latency", f"{budget}ms", "--no-verify", "-o", tmp_path / "s.json")
    assert code == 0, err
    model = tmp_path / "m.tflite"
    code, _, err = cli("export", "--format", "tflite", "--subnet", tmp_path / "s.json", "--no-recalibrate",
                       "--verify-images", "20", "-o", model)
    assert code == 0, err
    before = len([c for c in phone.commands if "--graph=" in c])
    code, out, err = cli("benchmark", model, "--device", dev, "--serial", phone.serial, "--benchmark-binary",
                         STAND_IN, "--table", table, "--sessions", "2", "--max-runs", "5", "--json")
    assert code == 0, err
    r = json.loads(out)
    runs = [c for c in phone.commands if "--graph=" in c][before:]
    assert len(runs) == 2 and all(c.startswith("taskset 1 ") and "--num_runs=5" in c for c in runs)
    assert r["backend"]["backend"] == "adb" and r["backend"]["serial"] == phone.serial
    assert r["measured_ms"]["count"] >= 10 and r["measured_ms"]["p10"] is None and r["measured_ms"]["median"] > 0
    assert r["predicted_ms"] > 0 and r["budget_ms"] == budget and "thermal" in r
    assert not list((phone.sandbox / "data/local/tmp/ofa-deploy").glob("bundle-*"))
    code, out, err = cli("benchmark", model, "--device", dev, "--serial", phone.serial, "--benchmark-binary",
                         STAND_IN, "--table", table, "--sessions", "1", "--max-runs", "5")
    assert code == 0, err
    assert "measured / predicted" in out and "measured / budget" in out
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")  # refused before anything is read or timed
    code, _, err = cli("benchmark", onnx, "--device", dev, "--serial", phone.serial, "--benchmark-binary", STAND_IN)
    assert code == 2 and "--format tflite" in err


@pytest.mark.slow
def test_the_design_card_loop_on_the_adb_fixture(phone, tmp_path, cache, cli, monkeypatch):
    """The card's words on its device: `profile --device note8 --benchmark-binary ...` ->
    `search --latency 22ms` -> `export --format tflite` -> `benchmark`, each step taking what it
    needs from the one before. note8 is the shipped descriptor, with one change: its big cores
    (4-7) are CPU 0 here, since taskset cannot pin to CPUs this machine lacks."""
    import yaml

    from ofa_deploy.paths import shipped_devices_dir

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    devices = tmp_path / "devices"
    devices.mkdir()
    note8 = yaml.safe_load((shipped_devices_dir() / "note8.yaml").read_text())
    note8.update(cores=[0], guard={**note8["guard"], "poll_s": 0.1, "max_wait_s": 20})
    (devices / "note8.yaml").write_text(yaml.safe_dump(note8))
    monkeypatch.setenv("OFA_DEPLOY_DEVICES", str(devices))
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("profile", "--device", "note8", "--benchmark-binary", STAND_IN, "--resolutions", "24",
                         "--sessions", "1", "--max-runs", "3", "--subnets", "2")  # shortened: 2 fit subnets, not 4
    assert code == 0, err
    code, out, err = cli("search", "--latency", "22ms")
    assert code == 0, err
    assert "next: ofa-deploy export --format tflite" in out
    code, out, err = cli("export", "--format", "tflite", "--verify-images", "50")
    assert code == 0, err
    assert "next: ofa-deploy benchmark" in out
    code, out, err = cli("benchmark", "--sessions", "2", "--max-runs", "5")
    assert code == 0, err
    text = " ".join(out.split())
    assert "on note8" in text and "measured / predicted" in text and "within the search's budget" in text
    assert "--benchmark-binary" in err  # taken from the profile of note8, and said


@pytest.mark.slow
def test_incontext_fit_rows_over_adb(phone, net, tmp_path, cache):
    """`--method fit` on an adb phone: the stitched whole subnets of a resolution go to the phone as
    one .tflite bundle, benchmark_model times them in the protocol's loop, and the rows are fitted
    to those times (ridge toward the prior rows). The prior is a synthetic table of the test space
    (profiling all its blocks over adb would convert every one of them). The fit's subnets are those of
    `test_profile_with_fit_...` (same net, count and seed): their conversions come from the run's cache."""
    from support.tables import synthetic_table

    from ofa_deploy.latency.incontext import fit_subnets, incontext_rows

    b = backend(cache, serial=phone.serial)
    prior = synthetic_table(SPEC, [24])
    prior.metadata.update(device="loopphone", stat="median")
    before = len([c for c in phone.commands if "--graph=" in c])
    rows, record = incontext_rows(prior, 24, net, b, FAST, "fit", subnets=2, seed=0)
    runs = [c for c in phone.commands if "--graph=" in c][before:]
    n = len(fit_subnets(SPEC, 24, 2, 0))
    assert n == 2 and record["subnets"] == n and len(runs) == n * FAST.sessions  # one run per subnet and session
    assert all("/bundle-" in c and ".tflite" in c for c in runs)
    fitted = [r for r in rows if r.method == "fit"]
    assert fitted and all(r.median > 0 and r.samples >= 1 for r in fitted)
    assert record["rows_fitted"] == len(fitted) and record["residual_mape"] >= 0
    assert not list((phone.sandbox / "data/local/tmp/ofa-deploy").glob("bundle-*"))
