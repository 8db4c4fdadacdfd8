"""The whole loop on an emulated aarch64 board, over SSH (marker `board`).

`scripts/arm-board.sh up` builds (once, cached) a Debian arm64 userland run through qemu-user and starts its
own sshd on 127.0.0.1; for each of the board's runtimes (ai-edge-litert, tflite-runtime 2.14, onnxruntime)
the test then runs the CLI as a user would: `profile` (isolated, one resolution, a short protocol) →
`latency validate` (a few subnets; onnxruntime's loop only) → `search --verify` (the chosen subnet timed end
to end on the board) → `export` → `benchmark` of the exported files on the board. Every step must exit 0.
Timings under emulation are meaningless; this proves function (the runner, the runtimes' wheels, the
transfer) on a real aarch64 userland, not speed.

Skipped, with the reason, where the board cannot exist: no root, no binfmt_misc, no qemu-user-static or
debootstrap, or the userland cannot be built (no network to the Debian mirror or PyPI). The board is brought
up once per session and torn down after; each step has a generous timeout (the first run converts every
block to .tflite on the host, which the block cache then keeps). Step durations are printed (`-s`) and
attached to the test report (`record_property`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "arm-board.sh"

pytestmark = pytest.mark.board

BUILD_TIMEOUT = 60 * 60  # debootstrap + pip under emulation on a loaded 2-core machine: ~15 min, cold
STEP_TIMEOUT = 40 * 60   # a cold profile converts every block to .tflite on the host first (~10 min)
RESOLUTION = "24"        # the demo space's smallest resolution: the cheapest blocks to emulate
SHORT = ["--sessions", "1", "--max-runs", "3"]  # plus the protocol's 10 warm-up runs


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run in its own process group, so a timeout ends the whole command (debootstrap, ssh, the CLI's
    children), not only its first process."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} took over {timeout:.0f} s\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="session")
def board(_user_data_folder):
    """The running board: `arm-board.sh up` once per session (its device descriptors land in the test
    session's data folder), `down` after. Skips with the script's reason where the board cannot exist."""
    check = _run(["bash", str(SCRIPT), "check"], 120)
    if check.returncode != 0:
        why = (check.stderr.strip().splitlines() or ["scripts/arm-board.sh check failed"])[-1]
        pytest.skip(f"no emulated arm64 board on this machine: {why.removeprefix('arm-board: ')}")
    t0 = time.monotonic()
    try:
        up = _run(["bash", str(SCRIPT), "up"], BUILD_TIMEOUT)
    except BaseException:  # timed out (or interrupted) while starting: leave nothing running
        _run(["bash", str(SCRIPT), "down"], 300)
        raise
    took = time.monotonic() - t0
    if up.returncode != 0:
        _run(["bash", str(SCRIPT), "down"], 300)
        tail = up.stderr.strip().splitlines()[-12:]
        if any(w in "\n".join(tail) for w in ("debootstrap failed", "pip install in the board failed",
                                              "cannot build the board")):
            pytest.skip("the emulated arm64 board's userland cannot be built here (network to the Debian "
                        f"mirror or PyPI?): {' | '.join(tail[-4:])}")
        pytest.fail(f"arm-board.sh up failed (rc {up.returncode}):\n" + "\n".join(tail))
    print(f"\narm-board up in {took:.0f} s: {up.stdout.strip()}")
    try:
        yield {"host": up.stdout.strip().splitlines()[-1], "up_seconds": took}
    finally:
        down = _run(["bash", str(SCRIPT), "down"], 300)
        assert down.returncode == 0, down.stderr
        status = _run(["bash", str(SCRIPT), "status"], 60)
        assert status.returncode == 3 and "not running" in status.stderr  # nothing of the board left running


class Steps:
    """The CLI run as a subprocess, step by step, each one timed and required to exit 0."""

    def __init__(self, record_property, cache: Path):
        self.times: dict[str, float] = {}
        self.record = record_property
        self.env = {**os.environ, "OFA_DEPLOY_CACHE": str(cache)}  # the run's block cache (conftest `cache`)

    def __call__(self, name: str, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        res = _run([sys.executable, "-m", "ofa_deploy", *args], STEP_TIMEOUT, env=self.env)
        self.times[name] = round(time.monotonic() - t0, 1)
        self.record(f"seconds_{name}", self.times[name])
        print(f"  {name}: {self.times[name]} s (exit {res.returncode})")
        assert res.returncode in ok, (f"`ofa-deploy {' '.join(args)}` exited {res.returncode}\n--- stdout\n"
                                      f"{res.stdout[-4000:]}\n--- stderr\n{res.stderr[-4000:]}")
        return res


# device written by arm-board.sh, the distribution its runtime comes from, the exports it can run
RUNTIMES = {
    "ai-edge-litert": ("arm-board", "ai-edge-litert", [("tflite", []), ("tflite", ["--int8"])]),
    "tflite-runtime": ("arm-board-tflrt", "tflite-runtime", [("tflite", []), ("tflite", ["--int8"])]),
    "onnxruntime": ("arm-board-ort", "onnxruntime", [("onnx", [])]),
}


# `latency validate` runs in one runtime's loop: on the board it times whole subnets through the runner's path
# that `search --verify` takes in every loop, and on a .tflite runtime it converted two more whole subnets
# (49 s of the first loop in a whole `make test`). onnxruntime's subnets export to ONNX in a second.
VALIDATED = {"onnxruntime"}

# (space and arch, format, flags) -> (file, the budget of the search that delivered it), this session
EXPORTED: dict[tuple[str, str, tuple[str, ...]], tuple[Path, float]] = {}


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_the_loop_on_the_emulated_board(board, runtime, tmp_path, record_property, cache):
    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.space import largest_arch

    device, dist, exports = RUNTIMES[runtime]
    step = Steps(record_property, cache)
    print(f"\n{runtime} on {device} ({board['host']}):")

    res = step("profile", "profile", "-d", device, "-r", RESOLUTION, "--method", "isolated", *SHORT, "--json")
    info = json.loads(res.stdout)
    assert not info["incomplete"] and info["methods"] == {"isolated": len(LatencyTable.load(info["folder"]))}
    table = LatencyTable.load(info["folder"])
    assert dist in json.dumps(table.metadata), f"the table was not measured with {dist}: {table.metadata}"
    assert "aarch64" in json.dumps(table.metadata)

    if runtime in VALIDATED:
        res = step("validate", "latency", "validate", "-d", device, "-n", "2", "--sessions", "1", "--json")
        assert json.loads(res.stdout)

    # A budget every subnet is predicted within (twice the largest subnet's prediction): under emulation on a
    # loaded machine end-to-end times drift, and what is tested is that the loop runs, not how tight it is.
    budget = round(2 * table.predict_arch(largest_arch(table.spec, int(RESOLUTION))), 4)
    subnet = tmp_path / "subnet.json"
    res = step("search", "search", "-d", device, "--latency", f"{budget:.4f}ms", "--verify", "--verify-top", "1",
               "-o", str(subnet), "--json")
    assert subnet.exists()
    assert "verif" in res.stdout

    files = []
    for fmt, flags in exports:
        # Export runs on the host, whatever the board's runtime: a subnet another runtime's loop exported
        # already (the same search result) is benchmarked from that file instead of exported again.
        doc = json.loads(subnet.read_text())
        what = (json.dumps([doc["space"], doc["arch"]], sort_keys=True), fmt, tuple(flags))
        done = EXPORTED.get(what)
        if done is not None:
            print(f"  export_{fmt}{'_int8' if flags else ''}: {done[0]} (exported by an earlier runtime's loop)")
            files.append(done)  # with the budget of the search that exported it (the file's record says so)
            continue
        out = tmp_path / f"subnet{'.int8' if flags else ''}.{fmt}"
        # int8 of the demo supernet may miss export's accuracy tolerance (1.8 points lost at r=24 against a
        # 1-point limit, measured; or the drop on the second calibration set): export then exits 1 and keeps the file as `.failed` with its report, as
        # scripts/demo.sh allows. Accepted here only for that reason; the kept file is still benchmarked.
        res = step(f"export_{fmt}{'_int8' if flags else ''}", "export", "--subnet", str(subnet), "--format", fmt,
                   *flags, "-o", str(out), "--json", ok=(0, 1) if flags else (0,))
        if res.returncode == 1:
            out = out.with_name(f"subnet.int8.failed.{fmt}")
            report = json.loads(out.with_name(out.name + ".report.json").read_text())
            missed = [c["metric"] for c in report["verification"]["checks"] if c["fatal"] and not c["passed"]]
            # accuracy only: the drop, or its stability on the second calibration set
            assert missed and set(missed) <= {"accuracy_drop", "second_calibration_drop"}, report["verification"]
            print(f"  int8 missed the accuracy tolerance ({', '.join(missed)}; drop "
                  f"{report['verification']['metrics']['accuracy_drop']:.1f} points); benchmarking the kept .failed file")
        assert out.exists()
        files.append((out, budget))
        EXPORTED[what] = (out, budget)

    for f, searched_budget in files:  # the exported file itself, timed on the board, beside the prediction and budget
        res = step(f"benchmark_{f.name}", "benchmark", str(f), "-d", device, *SHORT, "--json")
        out = json.loads(res.stdout)
        assert out["measured_ms"]["median"] > 0 and out["predicted_ms"] > 0, out
        assert out["budget_ms"] == pytest.approx(searched_budget, rel=1e-3), out
        assert out["backend"]["machine"] == "aarch64" and dist in out["backend"]["runtime_version"], out["backend"]
    print(f"  {runtime}: {sum(step.times.values()):.0f} s in all {step.times}")
