"""Local backends: onnxruntime on the CPU (default), the LiteRT interpreter on the CPU, PyTorch eager
on the CPU, PyTorch on CUDA; and `make_backend`, the one factory of every backend (these, and ssh
and adb devices from `devices.ssh` / `devices.adb`), for a profile or for one exported file.

A backend only knows how to open a fresh session for one model and return a no-argument runner;
sessions and interpreters come from `runtime.sessions` (the one place that opens them), timing is
the shared `latency.protocol`'s job, so every backend is measured the same way. Each declares
what it can do (`devices.backend.Capabilities`). Runtimes are imported inside the methods: reading
descriptors never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
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
from .backend import Capabilities
from .descriptor import DeviceDescriptor

Runner = Callable[[], Any]
__all__ = ["CudaBackend", "LiteRTBackend", "OnnxRuntimeBackend", "TorchBackend", "host_cpu", "make_backend"]


class OnnxRuntimeBackend:
    """onnxruntime CPU provider: `threads` intra-op threads, sequential execution, all graph
    optimisations (what a deployed model gets). Times ONNX files."""

    kind = "onnxruntime"
    needs_onnx = True
    capabilities = Capabilities(files=(".onnx",))

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

    def run_metadata(self) -> dict[str, Any]:
        return {}

    def open(self, model: Any) -> Runner:
        import numpy as np

        src = model.onnx_path if model.onnx_path is not None else model.onnx_bytes
        sess = onnx_session(src, self.threads, self.providers)
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(0).standard_normal(model.input_shape).astype(np.float32)
        feed = {inp.name: x}
        return lambda: sess.run(None, feed)


# LiteRT delegates the interpreter can use here and on an ssh board (the remote runner's rule):
# its default XNNPACK delegate, or none (the builtin kernels only).
XNNPACK, NO_DELEGATE = (None, "xnnpack"), ("none", "cpu")


class LiteRTBackend:
    """The LiteRT interpreter on the local CPU, `threads` threads, with the descriptor's `delegate`
    as the ssh runner reads it: `xnnpack` (or none given) is the interpreter's default XNNPACK
    delegate, `none` / `cpu` the builtin kernels only; other delegates (gpu, nnapi...) are refused.
    Times `.tflite` files (`model.tflite_path`)."""

    kind = "litert"
    precision = "fp32"
    needs_onnx = False
    capabilities = Capabilities(blocks=False, whole_models=False, files=(".tflite",))

    def __init__(self, threads: int = 1, delegate: str | None = None):
        if delegate not in XNNPACK + NO_DELEGATE:
            raise DeviceError(f"delegate {delegate!r} is not available to the LiteRT interpreter on this machine "
                              "(xnnpack, the default, or none)")
        interpreter_class()  # fail now, with the install hint, when no LiteRT runtime is installed
        self.threads = threads
        self.delegate = delegate
        self.xnnpack = delegate not in NO_DELEGATE

    def info(self) -> dict[str, Any]:
        runtime, _, version = runtime_version(".tflite").partition(" ")
        return {"backend": self.kind, "runtime": runtime, "runtime_version": version, "threads": self.threads,
                "delegate": self.delegate or "xnnpack", "host_cpu": host_cpu()}

    def run_metadata(self) -> dict[str, Any]:
        return {}

    def open(self, model: Any) -> Runner:
        import numpy as np

        from ..runtime.models import TfliteModel
        from ..runtime.quiet import captured_output

        if getattr(model, "tflite_path", None) is None:
            raise ExportError("the LiteRT backend times .tflite files")
        with captured_output():  # the interpreter logs its XNNPACK delegate on the first open
            it = TfliteModel(model.tflite_path, self.threads, xnnpack=self.xnnpack)
        it.set_input(np.random.default_rng(0).standard_normal(it.input.shape).astype(np.float32))
        return it.interpreter.invoke


class TorchBackend:
    """PyTorch eager on the CPU (`torch.set_num_threads(threads)`), inference mode. Times modules."""

    kind = "torch"
    precision = "fp32"
    needs_onnx = False
    capabilities = Capabilities()
    device = "cpu"

    def __init__(self, threads: int = 1):
        import torch

        self._torch = torch
        self.threads = threads
        torch.set_num_threads(threads)

    def info(self) -> dict[str, Any]:
        return {"backend": self.kind, "runtime": "torch", "runtime_version": self._torch.__version__,
                "threads": self.threads, "host_cpu": host_cpu()}

    def run_metadata(self) -> dict[str, Any]:
        return {}

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


def _remote_class(connection: str) -> Any:
    from . import adb, ssh

    return ssh.SshBackend if connection == "ssh" else adb.AdbBackend


def make_backend(device: DeviceDescriptor, runtime: str | None = None, threads: int | None = None,
                 file: str | os.PathLike | None = None, **remote: Any) -> Any:
    """The backend that measures on `device` (optionally overriding its runtime / threads): the one
    factory of local, ssh and adb backends.

    `file`: an exported `.onnx` / `.tflite` file to time (`benchmark`) instead of a profile: the
    runtime is the file's (on an ssh board the runner's onnxruntime or LiteRT; here onnxruntime, the
    descriptor's onnxruntime variant, or the LiteRT interpreter with the descriptor's delegate), and
    a device whose backend cannot time that file type is refused before anything is read.
    `remote` goes to the ssh backend (`host`, `accept_new_host_key`) or the adb backend (`serial`,
    `benchmark_binary`); options of the other kind, and None values, are ignored. `threads` None
    keeps the descriptor's; 0 or less is refused (it never means "the default")."""
    threads = checks.threads(threads)
    suffix = Path(file).suffix if file is not None else None
    if suffix is not None and device.connection in REMOTE_OPTIONS:
        if not _remote_class(device.connection).capabilities.times_file(suffix):
            raise DeviceError(f"device {device.name!r} is timed with TFLite's benchmark_model, which runs .tflite "
                              "files: export with --format tflite")
        runtime = "onnxruntime" if suffix == ".onnx" else "tflite"
    elif suffix == ".onnx":
        runtime = device.runtime if device.runtime.startswith("onnxruntime") else "onnxruntime"
    elif suffix is not None:  # .tflite, on this machine
        return LiteRTBackend(device.threads if threads is None else threads, device.delegate)
    if device.connection == "none":
        raise DeviceError(f"device {device.name!r} is known by its latency tables only (connection: none in "
                          f"{device.source or 'its descriptor'}): nothing can be measured on it; give it a "
                          "connection there (see devices/note10.yaml, devices/rpi4.yaml), or use --no-verify")
    if device.connection in REMOTE_OPTIONS:
        cls = _remote_class(device.connection)
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
