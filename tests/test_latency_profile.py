"""Block models, local backends, profiling (resume, refusal, half-written rows), validation, CLI.

Real onnxruntime sessions on a tiny space (width 0.5, 1 input channel, resolution 32) with a
short protocol, so that the whole file stays fast; timings themselves are not asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.spaces import PROFILE_SPEC

from ofa_deploy.devices import DeviceDescriptor, load_device
from ofa_deploy.errors import DeviceError, LatencyTableError
from ofa_deploy.latency import LatencyTable, resolution_keys
from ofa_deploy.latency.protocol import Protocol
from ofa_deploy.space import Arch, SpaceSpec

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from ofa_deploy.devices.local import OnnxRuntimeBackend, TorchBackend, make_backend
from ofa_deploy.latency.block_models import block_models, iter_layers, onnx_bytes
from ofa_deploy.latency.profiler import plan_profile, run_profile
from ofa_deploy.latency.validation import save_validation, validate

SPEC = PROFILE_SPEC
FAST = Protocol(warmup=1, min_runs=3, max_runs=3, check_every=3, sessions=1, chunk=16)
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def backend():
    return OnnxRuntimeBackend(threads=1)


# ---- block models ---------------------------------------------------------------------------------
def test_block_models_cover_every_key_with_right_shapes(net):
    models = block_models(net, SPEC, 32)
    assert [m.key for m in models] == resolution_keys(SPEC, 32).distinct()
    for m in models:
        side, _, cin = (int(v) for v in m.key.split("-input:")[1].split("-")[0].split("x"))
        assert m.input_shape == (1, cin, side, side)


def test_chained_onnx_blocks_reproduce_the_subnet(net):
    arch = Arch((5, 3, 7, 3) * 5, (4, 6, 3, 4) * 5, (3, 2, 4, 3, 2), 32)
    sub = net.extract(arch)
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        ref = sub(x).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    y = x.numpy()
    for _, layer, shape in iter_layers(sub, SPEC, arch):
        y = ort.InferenceSession(onnx_bytes(layer, shape), so, providers=["CPUExecutionProvider"]).run(None, {"x": y})[0]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())


# ---- backends and descriptors ---------------------------------------------------------------------
def test_descriptors_load_and_validate(tmp_path):
    cpu = load_device("cpu")
    assert (cpu.connection, cpu.runtime, cpu.threads) == ("local", "onnxruntime", 1)
    assert load_device("gpu").runtime == "torch-cuda"
    # host / serial may be left to `profile --host/--serial`: the backend asks for them (test_remote_*.py)
    assert DeviceDescriptor(name="rpi4", connection="ssh", runtime="onnxruntime").host is None
    ok = DeviceDescriptor(name="rpi5", connection="ssh", host="pi@rpi5", cores=[0, 1, 2, 3], threads=4)
    p = tmp_path / "rpi5.yaml"
    import yaml

    p.write_text(yaml.safe_dump(ok.to_dict()))
    assert load_device(p).to_dict() == ok.to_dict()
    with pytest.raises(DeviceError, match="unknown device"):
        load_device("no-such-device")
    with pytest.raises(DeviceError, match="--host"):
        make_backend(DeviceDescriptor(name="rpi4", connection="ssh", runtime="tflite"))


def test_gpu_is_skipped_with_a_clear_message_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the gpu backend is usable here")
    with pytest.raises(DeviceError, match="no CUDA device"):
        make_backend(load_device("gpu"))


def test_torch_and_onnxruntime_backends_run_a_block(net, backend):
    m = block_models(net, SPEC, 24)[3]
    m.onnx_bytes = onnx_bytes(m.module, m.input_shape)
    backend.open(m)()
    TorchBackend(threads=1).open(m)()
    assert backend.info()["threads"] == 1 and backend.info()["runtime_version"] == ort.__version__


# ---- profiling ------------------------------------------------------------------------------------
def test_profile_interrupt_resume_and_refusal(net, backend, tmp_path):
    folder = tmp_path / "cpu" / "tiny"
    plan = plan_profile(SPEC, "cpu", backend.info(), [32], folder, FAST)
    assert plan.n_todo == 96 and plan.done == 0

    class Stop(Exception):
        pass

    calls = 0

    def interrupt(_name):
        nonlocal calls
        calls += 1
        if calls == 40:
            raise Stop

    with pytest.raises(Stop):
        run_profile(plan, SPEC, net, backend, FAST, on_session=interrupt)
    kept = (folder / "table.csv").read_text().splitlines()
    assert len(kept) == 1 + 32  # header + two finished chunks of 16: rows were written as they finished
    with open(folder / "table.csv", "a") as f:  # a row cut in the middle of writing
        f.write("expanded_conv-input:16x16x8-out")
    with pytest.raises(LatencyTableError, match="half-written"):
        LatencyTable.load(folder)

    plan2 = plan_profile(SPEC, "cpu", backend.info(), [32], folder, FAST)
    assert plan2.done == 32 and plan2.n_todo == 64
    assert run_profile(plan2, SPEC, net, backend, FAST) == 64
    table = LatencyTable.load(folder)
    assert len(table) == 96 and table.missing_keys() == {}
    assert table.metadata["threads"] == 1 and table.metadata["protocol"]["sessions"] == 1
    assert all(r.count == 3 and r.p10 <= r.median <= r.p90 for r in table.rows)
    assert plan_profile(SPEC, "cpu", backend.info(), [32], folder, FAST).n_todo == 0

    with pytest.raises(LatencyTableError, match="threads"):
        plan_profile(SPEC, "cpu", {**backend.info(), "threads": 2}, [32], folder, FAST)
    with pytest.raises(LatencyTableError, match="space"):
        plan_profile(SpaceSpec(width_mult=0.5, n_classes=10, in_channels=3, resolutions=(32,)), "cpu",
                     backend.info(), [32], folder, FAST)
    fresh = plan_profile(SPEC, "cpu", {**backend.info(), "threads": 2}, [32], folder, FAST, fresh=True)
    assert fresh.n_todo == 96


def test_validate_calibrates_and_writes_files(net, backend, tmp_path):
    folder = tmp_path / "t"
    plan = plan_profile(SPEC, "cpu", backend.info(), [24], folder, FAST)
    run_profile(plan, SPEC, net, backend, FAST)
    table = LatencyTable.load(folder)
    res = validate(table, net, backend, 6, FAST, calibrate=True)
    assert len(res["measured"]) == 6 and all(m > 0 for m in res["measured"])
    assert res["split"].count("fit") == 3 and res["calibrated_heldout"]["n"] == 3
    table.set_calibration(res["calibration"])
    np.testing.assert_allclose(np.asarray(res["calibrated"]),
                               res["calibration"]["a"] * np.asarray(res["raw"]) + res["calibration"]["b"])
    files = save_validation(res, tmp_path / "v")
    assert all(f.exists() and f.stat().st_size > 0 for f in files)


# ---- CLI ------------------------------------------------------------------------------------------
def _run(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_lut_commands_do_not_import_torch(tmp_path):
    note10 = SHARED / "reference" / "ofa" / "note10"
    if not note10.exists():
        pytest.skip(f"{note10} is absent: the official tables live in ../shared beside the repository")
    n10, exp = tmp_path / "n10", tmp_path / "exp"
    calls = [["lut", "import", str(note10), "--device", "note10", "--out", str(n10)],
             ["lut", "show", str(n10)], ["lut", "export", str(n10), "--out", str(exp)]]
    code = ("import sys; from ofa_deploy.cli import app\n"
            f"for argv in {calls!r}:\n    app(argv, standalone_mode=False)\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "NO-TORCH" in out.stdout and "480 rows" in out.stdout
    assert sorted(p.name for p in exp.iterdir()) == sorted(p.name for p in note10.glob("*.yaml"))


def test_cli_errors_are_one_clear_line(tmp_path):
    code = "import sys; from ofa_deploy.cli import main; sys.argv=['ofa-deploy','lut','show','--device','nowhere']; main()"
    out = _run(code, {"OFA_DEPLOY_TABLES": str(tmp_path)})
    assert out.returncode == 2
    assert "no latency table for device 'nowhere'" in out.stderr and "ofa-deploy profile" in out.stderr
