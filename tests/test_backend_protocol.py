"""The `Backend` protocol (issue #24 item 4): every backend declares its capabilities, callers
branch on them (never on which methods a backend has), one factory makes local, ssh and adb
backends for a profile or for an exported file, and the local LiteRT interpreter honours the
descriptor's delegate as the ssh runner does."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ofa_deploy.devices import DeviceDescriptor
from ofa_deploy.devices.adb import AdbBackend
from ofa_deploy.devices.backend import BundleBackend, Capabilities, SessionBackend
from ofa_deploy.devices.local import (
    CudaBackend,
    LiteRTBackend,
    OnnxRuntimeBackend,
    TorchBackend,
    make_backend,
)
from ofa_deploy.devices.ssh import SshBackend
from ofa_deploy.errors import DeviceError

SRC = Path(__file__).resolve().parents[1] / "src" / "ofa_deploy"
ALL = (OnnxRuntimeBackend, LiteRTBackend, TorchBackend, CudaBackend, SshBackend, AdbBackend)


def test_every_backend_declares_its_capabilities_and_has_what_they_promise():
    for cls in ALL:
        caps = cls.capabilities
        assert isinstance(caps, Capabilities), cls
        assert isinstance(cls.kind, str) and callable(cls.info) and callable(cls.run_metadata)
        if caps.bundled:
            assert callable(cls.measure_plan) and callable(cls.measure_models), cls
        else:
            assert callable(cls.open), cls
        assert all(s in (".onnx", ".tflite") for s in caps.files)
    assert SshBackend.capabilities.files == (".onnx", ".tflite") and AdbBackend.capabilities.files == (".tflite",)
    assert not LiteRTBackend.capabilities.blocks and OnnxRuntimeBackend.capabilities.times_file(".onnx")
    assert isinstance(OnnxRuntimeBackend(1), SessionBackend) and not isinstance(OnnxRuntimeBackend(1), BundleBackend)


def test_no_caller_probes_a_backend_for_its_methods():
    probes = re.compile(r"(hasattr|getattr)\(\s*backend\b")
    found = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1) if probes.search(line)]
    assert found == []


@pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed")
def test_one_factory_makes_the_backend_for_a_profile_or_a_file(tmp_path):
    ssh = DeviceDescriptor(name="board", connection="ssh", runtime="tflite", host="pi@board.local")
    assert isinstance(make_backend(ssh), SshBackend)  # nothing connects before info()
    onnx = make_backend(ssh, file=tmp_path / "m.onnx")
    assert isinstance(onnx, SshBackend) and onnx.runtime == "onnxruntime" and onnx.needs_onnx
    assert isinstance(onnx, BundleBackend)
    tfl = make_backend(ssh, file=tmp_path / "m.tflite")
    assert tfl.runtime == "tflite" and not tfl.needs_onnx

    cpu = DeviceDescriptor(name="c", runtime="onnxruntime", threads=2)
    assert isinstance(make_backend(cpu, file="m.onnx"), OnnxRuntimeBackend)
    lite = make_backend(cpu, None, 3, file="m.tflite")
    assert isinstance(lite, LiteRTBackend) and lite.threads == 3 and lite.xnnpack
    assert make_backend(DeviceDescriptor(name="g", runtime="torch-cuda"), file="m.onnx").kind == "onnxruntime"

    phone = DeviceDescriptor(name="phone", connection="adb", runtime="tflite")
    with pytest.raises(DeviceError, match="export with --format tflite"):
        make_backend(phone, file="m.onnx")  # refused before the adb client or the binary is looked for
    with pytest.raises(DeviceError, match="known by its latency tables only"):
        make_backend(DeviceDescriptor(name="t", connection="none"), file="m.onnx")


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    pytest.importorskip("litert_torch")
    torch = pytest.importorskip("torch")
    from ofa_deploy.latency.block_models import write_block_model

    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3)).eval()
    return write_block_model(m, (1, 3, 16, 16), tmp_path_factory.mktemp("tfl") / "t.tflite", "tflite")


@pytest.mark.parametrize("delegate, applied", [(None, True), ("xnnpack", True), ("none", False), ("cpu", False)])
def test_the_local_litert_backend_honours_the_descriptors_delegate(tiny_tflite, delegate, applied):
    from ofa_deploy.devices.benchmark import model_file

    desc = DeviceDescriptor(name="c", runtime="onnxruntime", delegate=delegate)
    backend = make_backend(desc, file=tiny_tflite)
    run = backend.open(model_file(tiny_tflite))
    run()
    ops = [op["op_name"] for op in run.__self__._get_ops_details()]  # the interpreter the runner invokes
    assert ("DELEGATE" in ops) is applied, ops  # XNNPACK replaces the kernels with one delegate node
    assert backend.info()["delegate"] == (delegate if delegate in ("none", "cpu") else "xnnpack")


def test_a_delegate_the_interpreter_cannot_use_here_is_refused():
    with pytest.raises(DeviceError, match="delegate 'gpu' is not available"):
        make_backend(DeviceDescriptor(name="c", runtime="onnxruntime", delegate="gpu"), file="m.tflite")
