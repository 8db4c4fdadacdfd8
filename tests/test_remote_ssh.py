"""The SSH backend against a real OpenSSH server on 127.0.0.1 (throwaway host and user keys).

What is pinned down: host keys are verified (unknown: refused unless --accept-new-host-key;
changed: always refused); the probe reports the device and says what to install when the
runtime is missing; a reduced table profiled over SSH has the same keys as a local run, with
latencies of the same order, through one connection and one remote process; `.tflite` blocks
run in the remote LiteRT interpreter; a connection cut mid-run keeps every row received and a
rerun completes the table without losing or duplicating a row; no key material lands in a table
or an error; the `profile` command drives it all. A tiny space and a short protocol keep it fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from remote_fixtures.sshd import LoopbackSshd, unavailable
from support.spaces import PROFILE_SPEC

from ofa_deploy.devices import DeviceDescriptor
from ofa_deploy.errors import DeviceError
from ofa_deploy.latency import LatencyTable
from ofa_deploy.latency.protocol import Protocol

REASON = unavailable()
pytestmark = [pytest.mark.remote,
              pytest.mark.skipif(REASON is not None, reason=f"no OpenSSH server for the SSH tests: {REASON}")]

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from ofa_deploy.devices.local import OnnxRuntimeBackend, make_backend
from ofa_deploy.devices.ssh import SshBackend, SshTarget
from ofa_deploy.latency.profiler import plan_profile, run_profile

SPEC = PROFILE_SPEC
FAST = Protocol(warmup=2, min_runs=5, max_runs=5, check_every=5, sessions=1, chunk=8)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd")).start()
    server.record_host_key()
    yield server
    server.stop()


def descriptor(sshd: LoopbackSshd, tmp: Path, runtime: str = "onnxruntime", **kw) -> DeviceDescriptor:
    return DeviceDescriptor(name="loopback", connection="ssh", runtime=runtime,
                            python=kw.pop("python", None) or pid_python(tmp),
                            workdir=str(tmp / "remote"), extra={"ssh_config": str(sshd.ssh_config)},
                            guard={"max_temp_c": 95}, **kw)


def pid_python(tmp: Path) -> str:
    """The device's Python for a test: this interpreter, behind a wrapper that records the PID of
    every process it starts (`exec` keeps the PID), so that a test looks only at its own runners."""
    py = tmp / "python-recording-pids"
    if not py.exists():
        py.write_text(f'#!/bin/sh\necho $$ >> {tmp / "runner.pids"}\nexec {sys.executable} "$@"\n')
        py.chmod(0o755)
    return str(py)


def backend(sshd, tmp, cache, runtime="onnxruntime", **kw) -> SshBackend:
    accept = kw.pop("accept_new_host_key", False)
    return SshBackend(descriptor(sshd, tmp, runtime, **kw), host=sshd.host, accept_new_host_key=accept, cache=cache)


def reduced_plan(folder, info, keep=None):
    plan = plan_profile(SPEC, "loopback", info, [24], folder, FAST)
    if keep is not None:
        plan.todo = {r: keys[::keep] for r, keys in plan.todo.items()}
    return plan


def secrets(sshd: LoopbackSshd) -> list[str]:
    """Strings that must never appear: the private key's body and the public keys' base64."""
    body = [ln for ln in sshd.user_key.read_text().splitlines() if ln and not ln.startswith("-----")]
    pubs = [(sshd.dir / n).read_text().split()[1] for n in ("id_ed25519.pub", "host_key.pub")]
    return [ln for ln in body if len(ln) > 20] + pubs


def runner_processes(tmp: Path) -> list[str]:
    """The runners this test started (PIDs recorded by `pid_python`) that still run a bundle: no
    machine-wide matching, so other SSH profiles on the machine do not count."""
    pids = tmp / "runner.pids"
    alive = []
    for pid in (pids.read_text().split() if pids.exists() else []):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended
        if stat.rsplit(")", 1)[1].split()[0] != "Z" and "--stdin-bundle" in cmd:  # not a zombie, nor a reused PID
            alive.append(f"{pid} {cmd}")
    return alive


def runner_pids_seen(tmp: Path) -> bool:
    """Runners were started through `pid_python` (else `runner_processes` could not fail)."""
    return (tmp / "runner.pids").exists() and bool((tmp / "runner.pids").read_text().split())


def wait_no_runner(tmp: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while runner_processes(tmp) and time.monotonic() < deadline:
        time.sleep(0.1)


# ---- connection -------------------------------------------------------------------------------------
def test_host_parsing_and_a_missing_host_says_pass_host():
    assert SshTarget.parse("pi@rpi4.local:2222") == SshTarget("rpi4.local", "pi", 2222)
    assert SshTarget.parse("rpi") == SshTarget("rpi")
    assert SshTarget.parse("ssh://me@[::1]:22") == SshTarget("::1", "me", 22)
    assert str(SshTarget.parse("pi@10.0.0.7")) == "pi@10.0.0.7"
    with pytest.raises(DeviceError, match="port"):
        SshTarget.parse("pi@host:notaport")
    with pytest.raises(DeviceError, match="--host"):
        make_backend(DeviceDescriptor(name="rpi4", connection="ssh", runtime="tflite"))


def test_host_keys_are_verified(sshd, tmp_path, cache):
    leaks = secrets(sshd)
    sshd.known_hosts.write_text("")
    try:
        b = backend(sshd, tmp_path, cache)
        with pytest.raises(DeviceError, match="not in known_hosts") as unknown:
            b.info()
        assert "--accept-new-host-key" in str(unknown.value)
        assert sshd.known_hosts.read_text() == ""

        b = backend(sshd, tmp_path, cache, accept_new_host_key=True)
        assert b.info()["runtime"] == "onnxruntime"
        b.close()
        assert (sshd.dir / "host_key.pub").read_text().split()[1] in sshd.known_hosts.read_text()

        other = tmp_path / "other_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        kind, blob = (tmp_path / "other_key.pub").read_text().split()[:2]
        sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
        with pytest.raises(DeviceError, match="CHANGED") as changed:
            backend(sshd, tmp_path, cache, accept_new_host_key=True).info()
        for err in (unknown.value, changed.value):
            assert not any(s in str(err) for s in leaks + [blob])
    finally:
        sshd.record_host_key()


def test_probe_reports_the_device_and_what_to_install(sshd, tmp_path, cache):
    b = backend(sshd, tmp_path, cache, runtime="tflite", cores=[0])
    info = b.info()
    b.close()
    assert info["backend"] == "ssh" and info["host"] == sshd.host and info["threads"] == 1
    assert info["runtime_version"].startswith(("ai-edge-litert", "tflite-runtime"))
    assert info["host_cpu"] and "governors" in info and "temp_c" in info and info["cores"] == [0]

    blocker = tmp_path / "block"  # a device whose Python lacks every TFLite runtime
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['ai_edge_litert'] = None\n"
                                              "sys.modules['tflite_runtime'] = None\n")
    nolite = tmp_path / "python-without-litert"
    nolite.write_text(f'#!/bin/sh\nPYTHONPATH={blocker} exec {sys.executable} "$@"\n')
    nolite.chmod(0o755)
    with pytest.raises(DeviceError, match="no TFLite runtime") as e:
        backend(sshd, tmp_path, cache, runtime="tflite", python=str(nolite)).info()
    assert "pip install ai-edge-litert" in str(e.value)
    with pytest.raises(DeviceError, match="cannot run"):
        backend(sshd, tmp_path, cache, python="/no/such/python3").info()


# ---- profiling --------------------------------------------------------------------------------------
def test_loopback_table_matches_a_local_run_in_one_connection(sshd, net, tmp_path, cache):
    local = OnnxRuntimeBackend(threads=1)
    lplan = reduced_plan(tmp_path / "local", local.info(), keep=3)
    run_profile(lplan, SPEC, net, local, FAST)

    log = tmp_path / "python-calls.log"  # every Python process the device starts
    py = tmp_path / "python-logged"
    py.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {sys.executable} "$@"\n')
    py.chmod(0o755)
    logins = sshd.logins()
    b = backend(sshd, tmp_path, cache, python=str(py))
    plan = reduced_plan(tmp_path / "ssh", b.info(), keep=3)
    try:
        written = run_profile(plan, SPEC, net, b, FAST)
    finally:
        b.close()
    assert written == plan.n_todo == lplan.n_todo
    assert sshd.logins() - logins == 1  # one ssh connection for the probe, the transfer and the run
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and "--stdin-bundle . --settings" in calls[0]  # probe and run: one process

    lt, rt = LatencyTable.load(tmp_path / "local"), LatencyTable.load(tmp_path / "ssh")
    assert {(r.resolution, r.key) for r in lt.rows} == {(r.resolution, r.key) for r in rt.rows}
    lsum, rsum = sum(r.median for r in lt.rows), sum(r.median for r in rt.rows)
    assert 0.2 < rsum / lsum < 5, (lsum, rsum)
    meta = rt.metadata
    assert meta["backend"] == "ssh" and meta["runtime_version"] == f"onnxruntime {local.info()['runtime_version']}"
    assert "host_cpu" in meta and "governors" in meta["backend_info"] and "remote_thermal" in meta
    assert not list((tmp_path / "remote").glob("bundle-*"))  # the remote bundle is removed after a run
    state, board = meta["device_state"], board_state(None)  # governors and temperature, or null and why
    assert state["governors"] == board["governors"], state
    assert (state["temp_c"] is None) == (board["temp_c"] is None), state
    assert state["temp_c"] is None or abs(state["temp_c"] - board["temp_c"]) < 20
    for key, reason in (("governors", "governors_reason"), ("temp_c", "temp_reason")):
        assert (state[key] is None) == bool(state.get(reason)), state  # a reason exactly where it is null


def board_state(cores) -> dict:
    """What the loopback board (this machine) exposes: its governors and hottest thermal zone, or
    null and a reason each where it has none (containers, emulators)."""
    import glob
    import os

    govs = {}
    for c in cores if cores else range(os.cpu_count() or 1):
        f = Path(f"/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor")
        if f.is_file() and f.read_text().strip():
            govs[str(c)] = f.read_text().strip()
    temps = []
    for f in sorted(glob.glob("/sys/class/thermal/thermal_zone*/temp")):
        try:
            v = float(Path(f).read_text())
        except (OSError, ValueError):
            continue
        temps.append(v / 1000 if abs(v) > 1000 else v)
    return {"governors": govs or None, "temp_c": max(temps) if temps else None}


def test_tflite_blocks_run_in_the_remote_litert_interpreter(sshd, net, tmp_path, cache):
    b = backend(sshd, tmp_path, cache, runtime="tflite")
    plan = plan_profile(SPEC, "loopback", b.info(), [24], tmp_path / "t", FAST)
    plan.todo = {24: plan.todo[24][:2] + plan.todo[24][-2:]}  # a stem, a block, the head: few conversions
    try:
        assert run_profile(plan, SPEC, net, b, FAST) == 4
    finally:
        b.close()
    table = LatencyTable.load(tmp_path / "t")
    assert len(table) == 4 and all(r.count == 5 and r.median > 0 for r in table.rows)
    assert "TFLite" in table.metadata["source"] and table.metadata["backend_info"]["format"] == "tflite"
    assert len(list(Path(cache, "tflite").glob("*.tflite"))) >= 4  # converted once, reused by later runs


def test_a_dropped_connection_keeps_rows_and_a_rerun_completes(sshd, net, tmp_path, cache):
    folder = tmp_path / "t"
    b = backend(sshd, tmp_path, cache)
    plan = reduced_plan(folder, b.info())
    total = plan.n_todo
    sessions = 0

    def cut(_name):
        nonlocal sessions
        sessions += 1
        if sessions == 20:  # two chunks of 8 written, a third under way
            assert sshd.drop_connections() == 1

    with pytest.raises(DeviceError, match="rerun the same command") as lost:
        run_profile(plan, SPEC, net, b, FAST, on_session=cut)
    b.close()
    wait_no_runner(tmp_path)
    assert runner_pids_seen(tmp_path) and not runner_processes(tmp_path)
    assert not list((tmp_path / "remote").glob("bundle-*"))  # it cleaned up, too
    kept = LatencyTable.load(folder)
    assert 16 <= len(kept) < total
    assert f"{len(kept)} new row(s) were kept" in str(lost.value)

    b2 = backend(sshd, tmp_path, cache)
    plan2 = reduced_plan(folder, b2.info())
    assert plan2.done == len(kept) and plan2.n_todo == total - len(kept)
    try:
        assert run_profile(plan2, SPEC, net, b2, FAST) == total - len(kept)
    finally:
        b2.close()
    table = LatencyTable.load(folder)  # refuses duplicate rows
    assert len(table) == total and table.missing_keys([24]) == {}
    lines = (folder / "table.csv").read_text().splitlines()
    assert len(lines) == 1 + total
    assert {r.key: r for r in kept.rows}.items() <= {r.key: r for r in table.rows}.items()  # kept rows unchanged
    leaks = secrets(sshd)
    for f in folder.iterdir():
        text = f.read_text()
        assert not any(s in text for s in leaks), f
    assert not any(s in str(lost.value) for s in leaks)


def test_profile_command_over_ssh(sshd, tmp_path, cache, cli, monkeypatch):
    import yaml

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    d = descriptor(sshd, tmp_path).to_dict()
    d.update(name="looprpi")
    path = tmp_path / "looprpi.yaml"
    path.write_text(yaml.safe_dump(d))
    out = tmp_path / "table"
    code, stdout, stderr = cli("profile", "--device", path, "--host", sshd.host, "--width", "0.5", "--classes", "10",
                               "--in-channels", "1", "--resolutions", "128", "--sessions", "1", "--max-runs", "3",
                               "--out", out, "--json")
    assert code == 0, stderr
    info = json.loads(stdout)  # --json: stdout is the JSON alone (the progress bar goes to stderr)
    assert info["rows"] == 96 and info["written"] == 96 and info["incomplete"] == {}
    assert LatencyTable.load(out).metadata["backend_info"]["host"] == sshd.host

    code, _, stderr = cli("profile", "--device", "rpi4", "--width", "0.5", "--classes", "10", "--in-channels", "1",
                          "--resolutions", "128", "--out", tmp_path / "none")
    assert code == 2 and "--host" in stderr


@pytest.mark.slow  # ~11 s
def test_search_verify_and_validate_over_ssh(sshd, tmp_path, cache, cli, monkeypatch):
    """`search --verify` on an SSH device: the top candidates are exported whole, sent in one bundle
    and timed by the remote runner with the table's protocol; the subnet file records predicted and
    measured latency and the rounds. `latency validate` times its subnets the same way."""
    import yaml

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    d = descriptor(sshd, tmp_path).to_dict()
    d.update(name="looprpi")
    dev = tmp_path / "looprpi.yaml"
    dev.write_text(yaml.safe_dump(d))
    table = tmp_path / "table"
    code, _, err = cli("profile", "--device", dev, "--host", sshd.host, "--resolutions", "24", "--sessions", "1",
                       "--max-runs", "3", "--out", table)
    assert code == 0, err
    calls = []
    real = SshBackend.measure_models

    def spy(self, models, *a, **k):
        calls.append([m.key for m in models])
        return real(self, models, *a, **k)

    monkeypatch.setattr(SshBackend, "measure_models", spy)
    out = tmp_path / "s.json"
    code, stdout, err = cli("search", "--device", dev, "--host", sshd.host, "--table", table, "--latency", "50ms",
                            "--verify", "--verify-top", "2", "-o", out, "--json")
    assert code == 0, err
    v = json.loads(stdout)["verified"]
    cands = v["rounds"][0]["candidates"]
    assert calls == [["subnet0", "subnet1"]] and len(cands) == 2 and v["met"]
    assert all(0 < c["measured_ms"] < 50 for c in cands) and v["measured_ms"] == cands[0]["measured_ms"]
    meta = json.loads(out.read_text())["meta"]
    assert meta["verified"]["rounds"] == v["rounds"] and meta["predicted"]["latency_ms"] == v["predicted_ms"]
    assert runner_pids_seen(tmp_path) and runner_processes(tmp_path) == []  # the runner ended with its round

    code, stdout, err = cli("latency", "validate", "--table", table, "--device", dev, "--host", sshd.host,
                            "--samples", "3", "--sessions", "1", "--out", tmp_path / "v", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert calls[-1] == ["subnet0", "subnet1", "subnet2"] and len(res["measured"]) == 3
    assert res["raw_all"]["n"] == 3 and (tmp_path / "v" / "validation.csv").exists()


@pytest.mark.slow
def test_benchmark_over_ssh_times_the_exported_file_on_the_board(sshd, tmp_path, cache, cli, monkeypatch):
    """`benchmark` of an exported .onnx and .tflite on the search's ssh device: the file goes to the
    remote runner as a one-model bundle (the profiling protocol and thermal guard there), and the
    result shows measured, predicted and budget, with the drift check; nothing stays on the board."""
    import yaml

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    d = descriptor(sshd, tmp_path).to_dict()
    d.update(name="looprpi")
    dev = tmp_path / "looprpi.yaml"
    dev.write_text(yaml.safe_dump(d))
    table = tmp_path / "table"
    code, _, err = cli("profile", "--device", dev, "--host", sshd.host, "--resolutions", "24", "--sessions", "1",
                       "--max-runs", "3", "--out", table)
    assert code == 0, err
    code, _, err = cli("search", "--device", dev, "--table", table, "--latency", "50ms", "--no-verify",
                       "-o", tmp_path / "s.json")
    assert code == 0, err
    calls = []
    real = SshBackend.measure_models

    def spy(self, models, *a, **k):
        calls.append([(m.key, m.module) for m in models])
        return real(self, models, *a, **k)

    monkeypatch.setattr(SshBackend, "measure_models", spy)
    for fmt in ("onnx", "tflite"):
        model = tmp_path / f"m.{fmt}"
        code, _, err = cli("export", "--format", fmt, "--subnet", tmp_path / "s.json", "--no-recalibrate",
                           "--verify-images", "20", "-o", model)
        assert code == 0, err
        code, out, err = cli("benchmark", model, "--device", dev, "--host", sshd.host, "--table", table,
                             "--sessions", "2", "--max-runs", "5", "--json")
        assert code == 0, err
        r = json.loads(out)
        assert calls[-1] == [(model.name, None)]  # the file itself, not a re-export
        assert r["backend"]["backend"] == "ssh" and r["backend"]["host"] == sshd.host
        assert r["backend"]["runtime"] == ("onnxruntime" if fmt == "onnx" else "tflite")
        assert r["measured_ms"]["count"] >= 2 * 5 and 0 < r["measured_ms"]["median"] < 1000
        assert r["predicted_ms"] > 0 and r["budget_ms"] == 50 and r["drift"] is not None
        assert "thermal" in r
        assert (fmt == "tflite") == any("onnxruntime" in n for n in r["notes"])  # the table's runtime is said
    code, out, err = cli("benchmark", model, "--device", dev, "--host", sshd.host, "--table", table,
                         "--sessions", "1", "--max-runs", "5")
    assert code == 0, err
    text = " ".join(out.split())
    assert "measured / predicted" in text and "measured / budget" in text and "budget (search)" in text
    assert runner_pids_seen(tmp_path) and runner_processes(tmp_path) == []
    assert not list((tmp_path / "remote").glob("bundle-*"))


def test_a_runner_killed_by_a_signal_is_reported_as_such_and_leaves_nothing(sshd, net, tmp_path, cache, capfd):
    """The runner segfaults when it imports its runtime (as onnxruntime did under an emulator that
    showed the host's /proc/cpuinfo): the error names the signal and the runner's last stderr line,
    not a lost connection; no Python warning leaks to the terminal; the bundle folder is removed."""
    crash = tmp_path / "crash"
    crash.mkdir()
    (crash / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "class _Crash:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'onnxruntime':\n"
        "            sys.stderr.write('illegal instruction in the runtime (test)\\n'); sys.stderr.flush()\n"
        "            os.kill(os.getpid(), signal.SIGSEGV)\n"
        "sys.meta_path.insert(0, _Crash())\n")
    py = tmp_path / "python-that-crashes"
    py.write_text(f'#!/bin/sh\necho $$ >> {tmp_path / "runner.pids"}\nPYTHONPATH={crash} exec {sys.executable} "$@"\n')
    py.chmod(0o755)
    b = backend(sshd, tmp_path, cache, python=str(py))
    with pytest.raises(DeviceError) as e:
        b.info()
        run_profile(reduced_plan(tmp_path / "t", b.info(), keep=6), SPEC, net, b, FAST)
    b.close()
    del b
    import gc

    gc.collect()
    msg = str(e.value)
    assert "SIGSEGV" in msg and "illegal instruction in the runtime" in msg and "lost the ssh connection" not in msg
    wait_no_runner(tmp_path)
    assert runner_pids_seen(tmp_path) and not runner_processes(tmp_path)
    assert not list((tmp_path / "remote").glob("bundle-*"))  # removed by the remote shell
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "ValueError" not in err


@pytest.mark.slow
def test_profile_fit_over_ssh_times_stitched_subnets_in_the_blocks_bundle(sshd, tmp_path, cache, cli, monkeypatch):
    """`profile` on an ssh device fits by default: the stitched whole subnets go in the blocks' own
    bundle, timed by the one runner of the one connection after the blocks of their resolution;
    the rows are fitted to their times (ridge toward the isolated rows, kept in isolated.csv). A
    table profiled isolated first is fitted later with one bundle of subnets only."""
    import yaml

    from ofa_deploy.latency.incontext import DEFAULT_REMOTE_SUBNETS, fit_subnets

    monkeypatch.setenv("OFA_DEPLOY_CACHE", str(cache))
    monkeypatch.setenv("OFA_DEPLOY_HOME", str(tmp_path / "home"))
    d = descriptor(sshd, tmp_path).to_dict()
    d.update(name="looprpi")
    dev = tmp_path / "looprpi.yaml"
    dev.write_text(yaml.safe_dump(d))
    calls = []
    real = SshBackend.measure_models

    def spy(self, models, *a, **k):
        calls.append([m.key for m in models])
        return real(self, models, *a, **k)

    monkeypatch.setattr(SshBackend, "measure_models", spy)
    before = sshd.logins()
    code, _, err = cli("profile", "--device", dev, "--host", sshd.host, "--resolutions", "24", "--sessions", "1",
                       "--max-runs", "3", "--out", tmp_path / "fit", "--json")
    assert code == 0, err
    assert sshd.logins() - before == 1 and calls == []  # one connection, one bundle: blocks and subnets
    table = LatencyTable.load(tmp_path / "fit")
    meta = table.metadata
    n = len(fit_subnets(SPEC, 24, DEFAULT_REMOTE_SUBNETS, 0))
    assert meta["method"] == "fit" and meta["incontext"]["resolutions"]["24"]["subnets"] == n
    assert meta["backend"] == "ssh" and (tmp_path / "fit" / "isolated.csv").is_file()
    assert {r.method for r in table.rows} >= {"fit"} and all(r.median > 0 for r in table.rows)
    assert not list((tmp_path / "fit").glob(".fit-r*"))  # the kept subnet times went with the fit
    assert runner_pids_seen(tmp_path) and runner_processes(tmp_path) == []
    assert not list((tmp_path / "remote").glob("bundle-*"))

    code, _, err = cli("profile", "--device", dev, "--host", sshd.host, "--resolutions", "24", "--sessions", "1",
                       "--max-runs", "3", "--method", "isolated", "--out", tmp_path / "iso", "--json")
    assert code == 0, err
    assert calls == [] and {r.method for r in LatencyTable.load(tmp_path / "iso").rows} == {"isolated"}
    before = sshd.logins()
    code, _, err = cli("profile", "--device", dev, "--host", sshd.host, "--resolutions", "24", "--sessions", "1",
                       "--max-runs", "3", "--method", "fit", "--subnets", "8", "--out", tmp_path / "iso", "--json")
    assert code == 0, err
    assert sshd.logins() - before == 1
    assert len(calls) == 1 and calls[0] == [f"ctx{i}" for i in range(len(calls[0]))] and 6 <= len(calls[0]) <= 8
    assert {r.method for r in LatencyTable.load(tmp_path / "iso").rows} >= {"fit"}
    code, _, err = cli("profile", "--device", dev, "--host", sshd.host, "--resolutions", "24", "--method", "profiler",
                       "--out", tmp_path / "prof")
    assert code == 2 and "isolated or fit" in err
