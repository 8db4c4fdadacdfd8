"""Local backends: onnxruntime on the CPU (default), the LiteRT interpreter on the CPU, PyTorch eager
on the CPU, PyTorch on CUDA; `make_backend` also hands ssh and adb devices to `devices.ssh` /
`devices.adb`.

A backend only knows how to open a fresh session for one model and return a no-argument runner;
sessions and interpreters come from `runtime.sessions` (the one place that opens them), timing is
the shared `latency.protocol`'s job, so every backend is measured the same way. Runtimes are
imported inside the methods: reading descriptors never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import checks
from ..errors import DeviceError, ExportError
from ..runtime.sessions import (
    host_cpu,
    interpreter_class,
    missing_providers,
    onnx_session,
    onnxruntime,
    runtime_version,
)
from .descriptor import DeviceDescriptor

Runner = Callable[[], Any]
__all__ = ["CudaBackend", "LiteRTBackend", "OnnxRuntimeBackend", "TorchBackend", "host_cpu", "make_backend"]


class OnnxRuntimeBackend:
    """onnxruntime CPU provider: `threads` intra-op threads, sequential execution, all graph
    optimisations (what a deployed model gets). Times ONNX files."""

    kind = "onnxruntime"
    needs_onnx = True

    def __init__(self, threads: int = 1, providers: tuple[str, ...] = ("CPUExecutionProvider",),
                 precision: str = "fp32"):
        ort = self._ort = onnxruntime()
        self.threads = threads
        self.providers = providers
        self.precision = precision  # int8: the profiler hands it int8 QDQ models (`latency.int8`)
        missing = missing_providers(providers)
        if missing:
            raise DeviceError(f"onnxruntime lacks provider(s) {missing} on this machine "
                              f"(available: {ort.get_available_providers()})")

    def info(self) -> dict[str, Any]:
        return {"backend": "onnxruntime", "runtime": "onnxruntime", "runtime_version": self._ort.__version__,
                "providers": list(self.providers), "threads": self.threads, "host_cpu": host_cpu(),
                **({"precision": self.precision} if self.precision != "fp32" else {})}

    def open(self, model: Any) -> Runner:
        import numpy as np

        src = model.onnx_path if model.onnx_path is not None else model.onnx_bytes
        sess = onnx_session(src, self.threads, self.providers)
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).standard_normal(model.input_shape).astype(np.float32)
        feed = {inp.name: x}
        return lambda: sess.run(None, feed)


class LiteRTBackend:
    """The LiteRT interpreter on the local CPU (default XNNPACK delegate), `threads` threads.
    Times `.tflite` files (`model.tflite_path`)."""

    kind = "litert"
    needs_onnx = False

    def __init__(self, threads: int = 1):
        interpreter_class()  # fail now, with the install hint, when no LiteRT runtime is installed
        self.threads = threads

    def info(self) -> dict[str, Any]:
        runtime, _, version = runtime_version(".tflite").partition(" ")
        return {"backend": self.kind, "runtime": runtime, "runtime_version": version, "threads": self.threads,
                "host_cpu": host_cpu()}

    def open(self, model: Any) -> Runner:
        import numpy as np

        from ..runtime.models import TfliteModel
        from ..runtime.quiet import captured_output

        if getattr(model, "tflite_path", None) is None:
            raise ExportError("the LiteRT backend times .tflite files")
        with captured_output():  # the interpreter logs its XNNPACK delegate on the first open
            it = TfliteModel(model.tflite_path, self.threads)
        it.set_input(np.random.default_rng(0).standard_normal(it.input.shape).astype(np.float32))
        return it.interpreter.invoke


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
    if device.connection == "none":
        raise DeviceError(f"device {device.name!r} is known by its latency tables only (connection: none in "
                          f"{device.source or 'its descriptor'}): nothing can be measured on it; give it a "
                          "connection there (see devices/note10.yaml, devices/rpi4.yaml), or use --no-verify")
    if device.connection in REMOTE_OPTIONS:
        from . import adb, ssh

        cls = ssh.SshBackend if device.connection == "ssh" else adb.AdbBackend
        return cls(device, runtime=runtime, threads=threads,
                   **{k: remote[k] for k in REMOTE_OPTIONS[device.connection] if remote.get(k) is not None})
    runtime = runtime or device.runtime
    threads = device.threads if threads is None else threads
    if device.precision != "fp32" and (device.precision != "int8" or runtime != "onnxruntime"):
        raise DeviceError(f"device {device.name!r}: local backends measure fp32, and int8 with onnxruntime on the CPU; "
                          f"not {device.precision} with {runtime} (set precision: fp32, or runtime: onnxruntime)")
    if runtime == "onnxruntime":
        return OnnxRuntimeBackend(threads, precision=device.precision)
    if runtime == "onnxruntime-cuda":
        return OnnxRuntimeBackend(threads, ("CUDAExecutionProvider",))
    if runtime == "torch":
        return TorchBackend(threads)
    if runtime == "torch-cuda":
        return CudaBackend(threads)
    raise DeviceError(f"device {device.name!r}: runtime {runtime!r} has no local backend "
                      "(choose onnxruntime, onnxruntime-cuda, torch or torch-cuda)")
