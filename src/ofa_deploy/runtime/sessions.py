"""Open onnxruntime sessions and LiteRT interpreters, the one way every part of ofa-deploy does.

Session settings are those of a deployed model: `threads` intra-op threads, one inter-op thread,
sequential execution, all graph optimisations, warnings off. The LiteRT interpreter is
`ai_edge_litert`'s, else `tflite_runtime`'s (which computes some quantised models wrongly and
runs int8 ~10x slower: TFLITE_NOTES, point 1), with its default XNNPACK delegate.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from ..errors import DeviceError, ExportError

CPU = ("CPUExecutionProvider",)


def onnxruntime() -> Any:
    """The onnxruntime module, or `DeviceError` with the install hint."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise DeviceError("onnxruntime is not installed: pip install onnxruntime") from None
    return ort


def missing_providers(providers: tuple[str, ...]) -> list[str]:
    """The execution providers of `providers` this machine's onnxruntime lacks."""
    have = onnxruntime().get_available_providers()
    return [p for p in providers if p not in have]


def onnx_session(model: str | os.PathLike | bytes, threads: int = 1, providers: tuple[str, ...] = CPU,
                 profile_to: str | None = None) -> Any:
    """An onnxruntime `InferenceSession` of a file path or serialised model (see the module docstring).
    `profile_to`: a file prefix for onnxruntime's per-node profile (`session.end_profiling()`
    returns the JSON file), for attributing a whole model's time to its nodes."""
    ort = onnxruntime()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile_to is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_to
    src = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(src, so, providers=list(providers))


def interpreter_class() -> Any:
    """The LiteRT `Interpreter` class, or `ExportError` with the install hint."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ExportError("running .tflite files needs ai-edge-litert: pip install 'ofa-deploy[tflite]'") from None
    return Interpreter


def open_interpreter(path: str | os.PathLike | None = None, threads: int | None = 1,
                     content: bytes | None = None, xnnpack: bool = True) -> Any:
    """A LiteRT interpreter of a `.tflite` file (or of `content`, its bytes), not yet allocated.
    `xnnpack=False`: the builtin kernels only (no default delegate), to compare with XNNPACK."""
    cls = interpreter_class()
    kw: dict[str, Any] = {"model_content": content} if content is not None else {"model_path": str(path)}
    if threads is not None:
        kw["num_threads"] = threads
    if not xnnpack:
        resolver = sys.modules[cls.__module__].OpResolverType
        kw["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return cls(**kw)


def runtime_version(suffix: str) -> str:
    """'<distribution> <version>' of the runtime that runs files with this suffix."""
    names = ("onnxruntime",) if suffix == ".onnx" else ("ai-edge-litert", "tflite-runtime")
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


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
