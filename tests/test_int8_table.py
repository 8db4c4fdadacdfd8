"""int8 latency tables (issue 29, item 1): `profile --precision int8` times int8 block models and
int8 whole subnets, the table records its precision and lives beside the fp32 one, `search
--precision` picks the table of that precision (and says so), `benchmark` predicts an int8 file
with the int8 table. Cheap forms: the shipped demo supernet, one resolution, one session, a few
runs, a dozen whole subnets; the one timing assertion is a loose band.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from ofa_deploy.latency import LatencyTable
from ofa_deploy.latency.resolve import resolve_table

R = 24
PROFILE = ["profile", "--device", "cpu", "--resolutions", str(R), "--sessions", "1", "--max-runs", "5"]


def _run(args: list[str]) -> int:
    from ofa_deploy.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["ofa-deploy", *args])
        try:
            main()
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 1
    return 0


@pytest.fixture(scope="module")
def _tables_once(tmp_path_factory):
    """An int8 table (fitted to 12 int8 whole subnets) and an fp32 one (isolated) of the shipped demo
    supernet on `cpu`, profiled once by the real command into one tables folder."""
    base = tmp_path_factory.mktemp("int8-tables")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OFA_DEPLOY_HOME", str(base / "home"))
        mp.setenv("OFA_DEPLOY_TABLES", str(base / "tables"))
        mp.chdir(base)
        assert _run([*PROFILE, "--method", "isolated"]) == 0
        assert _run([*PROFILE, "--precision", "int8", "--subnets", "12"]) == 0
    return base


@pytest.fixture
def tables(_tables_once, tmp_path, monkeypatch):
    """A copy of both tables under a fresh home (the last profile recorded: the int8 one)."""
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(_tables_once / "home"))
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    monkeypatch.chdir(tmp_path)
    shutil.copytree(_tables_once / "tables", tmp_path / "tables")
    return tmp_path / "tables" / "cpu"


def _spec():
    from ofa_deploy.nn.shipped import shipped_spec

    return shipped_spec()


# ---- the table --------------------------------------------------------------------------------------
@pytest.mark.slow  # the `tables` fixture profiles an int8 table: ~30 s
def test_int8_table_records_its_precision_and_coexists_with_the_fp32_one(tables):
    folders = sorted(p.name for p in tables.iterdir())
    assert len(folders) == 2 and folders[1] == folders[0] + "-int8", folders
    fp32, int8 = LatencyTable.load(tables / folders[0]), LatencyTable.load(tables / folders[1])
    assert fp32.precision == "fp32" and int8.precision == "int8"
    assert {(r.resolution, r.key) for r in fp32.rows} == {(r.resolution, r.key) for r in int8.rows}
    md = int8.metadata
    assert md["int8"]["images"] == 32 and "QDQ" in md["int8"]["onnx"] and md["backend_info"]["precision"] == "int8"
    assert "int8" in md["source"]
    assert {r.method for r in int8.rows} >= {"fit"} and md["incontext"]["resolutions"][str(R)]["subnets"] == 12
    assert (tables / folders[1] / "isolated.csv").is_file()  # the int8 blocks as timed alone, kept
    # the one resolver: the precision picks the folder; none named prefers fp32 (what it meant before)
    assert resolve_table("cpu", spec=_spec(), precision="int8").folder.name == folders[1]
    assert resolve_table("cpu", spec=_spec(), precision="fp32").folder.name == folders[0]
    assert resolve_table("cpu", spec=_spec()).table.precision == "fp32"
    from ofa_deploy import api

    pytest.importorskip("pandas")
    assert api.latency_table(device="cpu", precision="int8").attrs["precision"] == "int8"


def test_int8_blocks_are_quantised_with_the_activations_that_reach_them():
    """Each block's calibration inputs are the real activations of the covering subnet (not the
    images, not noise), and the block model is an int8 QDQ graph with int8 weights."""
    import torch

    from ofa_deploy.devices.int8_inputs import int8_calibration
    from ofa_deploy.latency.block_models import block_models
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.nn.shipped import shipped_supernet_path

    net = load_supernet(shipped_supernet_path()).eval()
    spec = net.spec
    cal = int8_calibration(spec, net, n_images=8)
    models = block_models(net, spec, R)
    some = [models[0], models[1], models[len(models) // 2], models[-1]]
    inputs = cal.block_inputs(net, spec, R, [m.key for m in some])
    for m in some:
        x = inputs[m.key]
        assert x.shape == (8, *m.input_shape[1:]) and np.isfinite(x).all()
    np.testing.assert_array_equal(inputs[some[0].key], cal.at(R))  # the stem gets the images themselves
    with torch.no_grad():  # the second layer gets the stem's output on them
        np.testing.assert_allclose(inputs[some[1].key], some[0].module(torch.from_numpy(cal.at(R))).numpy(),
                                   rtol=1e-5, atol=1e-6)
    cal.quantise_blocks(some, net, spec, R)
    for m in some:
        g = onnx.load_from_string(m.onnx_bytes).graph
        ops = {n.op_type for n in g.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops, ops
        assert any(t.data_type == onnx.TensorProto.INT8 for t in g.initializer)  # int8 weights


@pytest.mark.slow  # the `tables` fixture profiles an int8 table: ~30 s
def test_int8_table_predicts_int8_whole_subnets_within_a_loose_band(tables):
    """A few held-out int8 whole subnets (quantised whole, as `export --int8` ships them) timed end to
    end against the int8 table's prediction: the same order (a loose band, no flaky timing bound)."""
    from ofa_deploy.devices.int8_inputs import int8_calibration
    from ofa_deploy.devices.local import OnnxRuntimeBackend
    from ofa_deploy.latency.protocol import Protocol
    from ofa_deploy.latency.validation import measure_subnets
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.nn.shipped import shipped_supernet_path
    from ofa_deploy.space import sample_archs

    table = resolve_table("cpu", spec=_spec(), precision="int8").table
    net = load_supernet(shipped_supernet_path()).eval()
    batch = sample_archs(table.spec, 4, np.random.default_rng(12345), resolutions=[R])
    measured = measure_subnets(net, table.spec, batch, OnnxRuntimeBackend(1, precision="int8"),
                               Protocol(warmup=3, min_runs=10, max_runs=20, sessions=1), stat=table.stat,
                               int8=int8_calibration(table.spec, net))
    predicted = table.predict(batch)
    ratio = predicted / measured
    assert np.all((ratio > 0.33) & (ratio < 3.0)), (predicted, measured)


@pytest.mark.slow  # the `tables` fixture profiles an int8 table: ~30 s
def test_latency_validate_times_an_int8_tables_subnets_int8_from_its_own_weights(tables, tmp_path, cli, monkeypatch):
    from ofa_deploy.latency import validation

    seen = []
    real = validation.measure_subnets

    def spy(net, spec, batch, backend, protocol, *a, **k):
        int8 = a[4] if len(a) > 4 else k.get("int8")
        seen.append((int8, getattr(net, "checkpoint_meta", None) is not None))
        return real(net, spec, batch, backend, protocol, *a, **k)

    monkeypatch.setattr(validation, "measure_subnets", spy)
    folder = next(p for p in tables.iterdir() if p.name.endswith("-int8"))
    code, out, err = cli("latency", "validate", "--table", folder, "--samples", "2", "--sessions", "1",
                         "--out", tmp_path / "v", "--json")
    assert code == 0, err
    (int8, trained), = seen
    assert int8 is not None and int8.n_images == 32 and trained  # the table's checkpoint, not random weights
    assert len(json.loads(out)["measured"]) == 2


# ---- search -----------------------------------------------------------------------------------------
@pytest.mark.slow  # the `tables` fixture profiles an int8 table: ~30 s
def test_search_picks_the_table_of_the_precision_and_says_which(tables, cli):
    code, out, err = cli("search", "--device", "cpu", "--latency", "1ms", "--precision", "int8", "--no-verify",
                         "--json")
    assert code == 0, err
    used = json.loads(out)["latency_table"]
    assert used["precision"] == "int8" and used["path"].endswith("-int8")
    code, out, err = cli("search", "--device", "cpu", "--latency", "1ms", "--no-verify", "--json")
    assert code == 0, err  # the descriptor's precision (fp32), although the last profile was int8
    used = json.loads(out)["latency_table"]
    assert used["precision"] == "fp32" and not used["path"].endswith("-int8")
    assert "is int8; searched with the fp32 table" in " ".join(err.split())  # the last profile's, passed over
    code, out, err = cli("search", "--device", "cpu", "--latency", "1ms", "--precision", "int8", "--no-verify")
    assert code == 0, err
    assert "int8 latency table" in out and "-int8" in out
    assert "export --format tflite --int8" in out  # the next step ships it int8


def test_search_int8_without_an_int8_table_says_the_profile_command(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "none"))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    code, out, err = cli("search", "--device", "cpu", "--latency", "1ms", "--precision", "int8", "--no-verify")
    assert code == 2 and out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no int8 latency table" in lines[0] and "--precision int8" in lines[0], err
    assert not (tmp_path / "home" / "searches").exists()
    code, _, err = cli("search", "--device", "cpu", "--latency", "1ms", "--precision", "fp16", "--no-verify")
    assert code == 2 and "--precision must be fp32 or int8" in err


@pytest.mark.slow  # the `tables` fixture profiles an int8 table: ~30 s
def test_a_table_of_another_precision_is_refused_when_one_is_named(tables):
    from ofa_deploy.errors import LatencyTableError

    int8 = next(p for p in tables.iterdir() if p.name.endswith("-int8"))
    assert resolve_table(table=int8).table.precision == "int8"  # a folder given is taken as it is
    with pytest.raises(LatencyTableError, match="is an int8 latency table, not fp32"):
        resolve_table(table=int8, precision="fp32")


# ---- benchmark's prediction -------------------------------------------------------------------------
@pytest.mark.slow  # the `tables` fixture profiles an int8 table: ~30 s
def test_benchmark_predicts_an_int8_file_with_the_int8_table(tables, tmp_path, monkeypatch):
    from ofa_deploy.devices.benchmark import predicted_ms
    from ofa_deploy.space import sample_archs

    spec = _spec()
    arch = sample_archs(spec, 1, np.random.default_rng(3), resolutions=[R]).to_archs()[0]
    report = {"subnet": {"space": spec.to_dict(), "arch": arch.to_dict()}, "precision": "int8"}
    ms8, info8 = predicted_ms("cpu", report)
    ms32, info32 = predicted_ms("cpu", {**report, "precision": "fp32"})
    assert info8["precision"] == "int8" and info8["path"].endswith("-int8")
    assert info32["precision"] == "fp32"
    assert ms8 == pytest.approx(resolve_table("cpu", spec=spec, precision="int8").table.predict_arch(arch))
    assert ms8 != pytest.approx(ms32)
    # no int8 table: the fp32 one predicts (benchmark then notes "the table is fp32, this file is int8")
    shutil.rmtree(Path(info8["path"]))
    _, info = predicted_ms("cpu", report)
    assert info["precision"] == "fp32"


# ---- bad input --------------------------------------------------------------------------------------
def test_bad_precision_options_are_one_line_exit_2_nothing_written(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("OFA_DEPLOY_TABLES", str(tmp_path / "tables"))
    code, _, err = cli(*PROFILE, "--precision", "fp8")
    assert code == 2 and "fp32 or int8" in err and len([ln for ln in err.splitlines() if ln.strip()]) == 1
    code, _, err = cli(*PROFILE, "--precision", "int8", "--runtime", "torch")
    assert code == 2 and "int8 with onnxruntime" in err
    assert not (tmp_path / "tables").exists()


def test_local_backends_accept_int8_on_onnxruntime_only():
    from ofa_deploy.devices import DeviceDescriptor
    from ofa_deploy.devices.local import OnnxRuntimeBackend, make_backend
    from ofa_deploy.errors import DeviceError

    b = make_backend(DeviceDescriptor(name="x", precision="int8"))
    assert isinstance(b, OnnxRuntimeBackend) and b.precision == "int8" and b.info()["precision"] == "int8"
    assert "precision" not in make_backend(DeviceDescriptor(name="x")).info()  # fp32 tables' meta as before
    for kw in ({"precision": "fp16"}, {"precision": "int8", "runtime": "torch"}):
        with pytest.raises(DeviceError):
            make_backend(DeviceDescriptor(name="x", **kw))


# ---- remote: the bundle ships int8 files --------------------------------------------------------------
@pytest.mark.slow  # ~16 s (onnxruntime)
@pytest.mark.remote
@pytest.mark.parametrize("runtime", ["onnxruntime", "tflite"])
def test_an_int8_profile_over_ssh_ships_int8_blocks(runtime, net, tmp_path, cache, monkeypatch):
    """Over SSH (a real sshd on loopback) the remote runner times whatever file it gets: an int8
    plan's bundle carries int8 QDQ `.onnx` / int8 `.tflite` blocks, and the rows land in an int8 table."""
    from remote_fixtures.sshd import LoopbackSshd, unavailable

    if (why := unavailable()) is not None:
        pytest.skip(f"no OpenSSH server: {why}")
    if runtime == "tflite":
        pytest.importorskip("litert_torch")
        pytest.importorskip("ai_edge_quantizer")
    from support.spaces import PROFILE_SPEC

    from ofa_deploy.devices import DeviceDescriptor, ssh
    from ofa_deploy.latency.int8 import Int8Calibration, random_images
    from ofa_deploy.latency.profiler import plan_profile, run_profile
    from ofa_deploy.latency.protocol import Protocol

    server = LoopbackSshd(tmp_path / "sshd").start()
    try:
        server.record_host_key()
        desc = DeviceDescriptor(name="loopback", connection="ssh", runtime=runtime, precision="int8",
                                python=sys.executable, workdir=str(tmp_path / "remote"),
                                extra={"ssh_config": str(server.ssh_config)}, guard={"max_temp_c": 95})
        b = ssh.SshBackend(desc, host=server.host, cache=cache)
        sent = []
        real = ssh.build_bundle

        def spy(*a, **k):
            sent.extend((m, m.tflite_path) for m in k.get("models") or [])  # the bundle then renames paths
            return real(*a, **k)

        monkeypatch.setattr(ssh, "build_bundle", spy)
        proto = Protocol(warmup=2, min_runs=5, max_runs=5, check_every=5, sessions=1, chunk=8)
        plan = plan_profile(PROFILE_SPEC, "loopback", b.info(), [24], tmp_path / "t", proto, "int8")
        full = runtime == "onnxruntime"  # ONNX: the whole resolution, then the in-context fit over ssh too
        if not full:
            plan.todo = {24: plan.todo[24][:2] + plan.todo[24][-2:]}  # a stem, a block, the head
        cal = Int8Calibration(random_images(PROFILE_SPEC), "random images", 4)
        try:
            n = plan.n_todo
            assert run_profile(plan, PROFILE_SPEC, net, b, proto, int8=cal) == n
        finally:
            b.close()
        if full:
            from ofa_deploy.latency.incontext import run_incontext

            fit = ssh.SshBackend(desc, host=server.host, cache=cache)
            try:
                assert run_incontext(tmp_path / "t", net, fit, proto, "fit", 4, int8=cal) == 1
            finally:
                fit.close()
    finally:
        server.stop()
    sent, stitched = sent[:n], sent[n:]
    assert len(sent) == n and all(m.module is None for m, _ in sent)
    if runtime == "onnxruntime":  # every block with a conv or a linear layer (a pooling block has none)
        graphs = [{x.op_type for x in onnx.load_from_string(m.onnx_bytes).graph.node} for m, _ in sent]
        assert all("QuantizeLinear" in ops for ops in graphs if ops & {"Conv", "Gemm"})
        assert sum(bool(ops & {"Conv", "Gemm"}) for ops in graphs) >= n - 1
    else:
        from ofa_deploy.runtime.sessions import open_interpreter

        for m, path in sent:
            it = open_interpreter(path=path, threads=1)
            assert any(t["dtype"] == np.int8 for t in it.get_tensor_details()), m.key
    table = LatencyTable.load(tmp_path / "t")
    assert table.precision == "int8" and len(table) == n and all(r.median > 0 for r in table.rows)
    if full:  # the fit's whole subnets went over as int8 stitched graphs, and remade the rows
        assert len(stitched) == 4 and all("QuantizeLinear" in {x.op_type for x in onnx.load_from_string(
            m.onnx_bytes).graph.node} for m, _ in stitched)
        assert {r.method for r in table.rows} >= {"fit"}


@pytest.mark.remote
def test_an_int8_profile_over_adb_pushes_int8_tflite_blocks(net, tmp_path, cache, monkeypatch):
    """adb: the real adb client and server against the loopback device daemon of `test_remote_adb`
    (its `benchmark_model` stand-in times the pushed file with the LiteRT interpreter): an int8 plan
    pushes int8 `.tflite` blocks and the rows land in an int8 table."""
    import subprocess
    import time

    from remote_fixtures.fake_adbd import FakeAdbDaemon, adb_available
    from support.ports import free_port

    if adb_available() is None:
        pytest.skip("the `adb` client is missing (apt install adb)")
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_quantizer")
    from support.spaces import PROFILE_SPEC

    from ofa_deploy.devices import DeviceDescriptor, adb
    from ofa_deploy.latency.int8 import Int8Calibration, random_images
    from ofa_deploy.latency.profiler import plan_profile, run_profile
    from ofa_deploy.latency.protocol import Protocol

    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(free_port()))
    (tmp_path / "adb-home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "adb-home"))
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)

    def run(*args: str) -> str:
        out = subprocess.run(["adb", *args], capture_output=True, text=True, timeout=60, check=False)
        return out.stdout + out.stderr

    subprocess.run(["adb", "start-server"], capture_output=True, timeout=60, check=True)
    phone = FakeAdbDaemon(tmp_path / "phone").start()
    try:
        deadline = time.monotonic() + 10
        while f"{phone.serial}\tdevice" not in run("devices") and time.monotonic() < deadline:
            run("connect", phone.serial)
            time.sleep(0.2)
        desc = DeviceDescriptor(name="loopphone", connection="adb", runtime="tflite", threads=1, precision="int8",
                                guard={"max_temp_c": 95})
        stand_in = Path(__file__).parent / "remote_fixtures" / "fake_benchmark_model.py"
        b = adb.AdbBackend(desc, serial=phone.serial, benchmark_binary=str(stand_in), cache=cache)
        sent = []
        real = adb.build_bundle

        def spy(*a, **k):
            sent.extend((m, m.tflite_path) for m in k.get("models") or [])
            return real(*a, **k)

        monkeypatch.setattr(adb, "build_bundle", spy)
        proto = Protocol(warmup=2, min_runs=5, max_runs=5, check_every=5, sessions=1, chunk=2)
        plan = plan_profile(PROFILE_SPEC, "loopphone", b.info(), [24], tmp_path / "t", proto, "int8")
        plan.todo = {24: plan.todo[24][:2] + plan.todo[24][-2:]}
        assert run_profile(plan, PROFILE_SPEC, net, b, proto,
                           int8=Int8Calibration(random_images(PROFILE_SPEC), "random images", 4)) == 4
        from ofa_deploy.errors import LatencyTableError
        from ofa_deploy.latency.incontext import choose_method

        with pytest.raises(LatencyTableError, match="--method isolated"):  # int8 whole subnets: ONNX only, for now
            choose_method(b, "fit")
    finally:
        phone.stop()
        run("disconnect", phone.serial)
        subprocess.run(["adb", "kill-server"], capture_output=True, timeout=60, check=False)
    from ofa_deploy.runtime.sessions import open_interpreter

    assert len(sent) == 4
    for _, path in sent:
        assert any(t["dtype"] == np.int8 for t in open_interpreter(path=path, threads=1).get_tensor_details())
    table = LatencyTable.load(tmp_path / "t")
    assert table.precision == "int8" and len(table) == 4 and all(r.median > 0 for r in table.rows)
