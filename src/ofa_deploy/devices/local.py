"""Local backends: onnxruntime on the CPU (default), PyTorch eager on the CPU, PyTorch on CUDA;
`make_backend` also hands ssh and adb devices to `devices.ssh` / `devices.adb`.

A backend only knows how to open a fresh session for one model and return a no-argument runner;
timing is the shared `latency.protocol`'s job, so every backend is measured the same way.
Runtimes are imported inside the methods: reading descriptors never imports torch.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from typing import Any

from .. import checks
from ..errors import DeviceError
from .descriptor import DeviceDescriptor

Runner = Callable[[], Any]


def host_cpu() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux) and the number of logical CPUs."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


class OnnxRuntimeBackend:
    """onnxruntime CPU provider: `threads` intra-op threads, sequential execution, all graph
    optimisations (what a deployed model gets). Times ONNX files."""

    kind = "onnxruntime"
    needs_onnx = True

    def __init__(self, threads: int = 1, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
        try:
            import onnxruntime as ort
        except ImportError:
            raise DeviceError("onnxruntime is not installed: pip install onnxruntime") from None
        self._ort = ort
        self.threads = threads
        self.providers = providers
        missing = [p for p in providers if p not in ort.get_available_providers()]
        if missing:
            raise DeviceError(f"onnxruntime lacks provider(s) {missing} on this machine "
                              f"(available: {ort.get_available_providers()})")

    def info(self) -> dict[str, Any]:
        return {"backend": "onnxruntime", "runtime": "onnxruntime", "runtime_version": self._ort.__version__,
                "providers": list(self.providers), "threads": self.threads, "host_cpu": host_cpu()}

    def open(self, model: Any) -> Runner:
        import numpy as np

        ort = self._ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        src = model.onnx_path if model.onnx_path is not None else model.onnx_bytes
        sess = ort.InferenceSession(src, so, providers=list(self.providers))
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).standard_normal(model.input_shape).astype(np.float32)
        feed = {inp.name: x}
        return lambda: sess.run(None, feed)


class TorchBackend:
    """PyTorch eager on the CPU (`torch.set_num_threads(threads)`), inference mode. Times modules."""

    kind = "torch"
    needs_onnx = False
    device = "cpu"

    def __init__(self, threads: int = 1):
        import torch

        self._torch = torch
        self.threads = threads
        torch.set_num_threads(threads)

    def info(self) -> dict[str, Any]:
        return {"backend": self.kind, "runtime": "torch", "runtime_version": self._torch.__version__,
                "threads": self.threads, "host_cpu": host_cpu()}

    def open(self, model: Any) -> Runner:
        import copy

        torch = self._torch
        if model.module is None:
            raise DeviceError("the torch backend times modules, not ONNX files")
        module = copy.deepcopy(model.module).to(self.device).eval()
        x = torch.randn(*model.input_shape, device=self.device)

        def run() -> None:
            with torch.inference_mode():
                module(x)

        return run


class CudaBackend(TorchBackend):
    """PyTorch on the local CUDA GPU; every run ends with a device synchronisation so that the
    protocol's wall-clock timing covers the kernels."""

    kind = "torch-cuda"
    device = "cuda"

    def __init__(self, threads: int = 1):
        super().__init__(threads)
        if not self._torch.cuda.is_available():
            raise DeviceError("no CUDA device on this machine: the 'gpu' device (torch-cuda) is skipped; "
                              "profile --device cpu instead, or run on a machine with an NVIDIA GPU")

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["gpu"] = self._torch.cuda.get_device_name(0)
        d["cuda"] = self._torch.version.cuda
        return d

    def open(self, model: Any) -> Runner:
        inner = super().open(model)
        sync = self._torch.cuda.synchronize

        def run() -> None:
            inner()
            sync()

        return run


# The command-line options each remote connection takes (the others are ignored).
REMOTE_OPTIONS = {"ssh": ("host", "accept_new_host_key"), "adb": ("serial", "benchmark_binary")}


def make_backend(device: DeviceDescriptor, runtime: str | None = None, threads: int | None = None,
                 **remote: Any) -> Any:
    """The backend that measures on `device` (optionally overriding its runtime / threads).

    `remote` goes to the ssh backend (`host`, `accept_new_host_key`) or the adb backend (`serial`,
    `benchmark_binary`); options of the other kind, and None values, are ignored. `threads` None
    keeps the descriptor's; 0 or less is refused (it never means "the default")."""
    threads = checks.threads(threads)
    if device.connection in REMOTE_OPTIONS:
        from . import adb, ssh

        cls = ssh.SshBackend if device.connection == "ssh" else adb.AdbBackend
        return cls(device, runtime=runtime, threads=threads,
                   **{k: remote[k] for k in REMOTE_OPTIONS[device.connection] if remote.get(k) is not None})
    runtime = runtime or device.runtime
    threads = device.threads if threads is None else threads
    if device.precision != "fp32":
        raise DeviceError(f"device {device.name!r}: local backends measure fp32 only, not {device.precision}")
    if runtime == "onnxruntime":
        return OnnxRuntimeBackend(threads)
    if runtime == "onnxruntime-cuda":
        return OnnxRuntimeBackend(threads, ("CUDAExecutionProvider",))
    if runtime == "torch":
        return TorchBackend(threads)
    if runtime == "torch-cuda":
        return CudaBackend(threads)
    raise DeviceError(f"device {device.name!r}: runtime {runtime!r} has no local backend "
                      "(choose onnxruntime, onnxruntime-cuda, torch or torch-cuda)")
