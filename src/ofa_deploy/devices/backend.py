"""What a measuring backend is: the `Backend` protocol and the capabilities each backend declares.

Callers branch on a backend's declared `capabilities`, never on which methods it happens to have:

- `blocks`: it measures a profile's block models (`profile`);
- `whole_models`: it times whole subnets (`latency validate`, `search --verify`, the in-context fit);
- `files`: the exported file suffixes `benchmark` can time on it (`.onnx`, `.tflite`);
- `bundled`: how it measures. False: `open(model)` returns a runner on a fresh session here, and
  the shared protocol loop (`latency.protocol.measure`) times it on this machine. True: the models
  go to the device as one bundle per call (`measure_plan` for a profile's blocks, `measure_models`
  for whole models), and the device runs the same protocol loop itself (the ssh runner,
  adb's `benchmark_model` in the protocol's order).

Every backend describes itself (`info()`: runtime, its version, threads, CPU...; what a table's
metadata records). The one factory that makes them, for local, ssh and adb devices, is
`devices.local.make_backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do (see the module docstring)."""

    blocks: bool = True
    whole_models: bool = True
    files: tuple[str, ...] = ()
    bundled: bool = False

    def times_file(self, suffix: str) -> bool:
        return suffix in self.files


@runtime_checkable
class Backend(Protocol):
    """Every backend: a kind, its declared capabilities, and a description of itself."""

    kind: str
    capabilities: Capabilities
    precision: str  # fp32 | int8: what the models it is handed are (a table records it)

    def info(self) -> dict[str, Any]:
        """Runtime, its version, threads, CPU and what else the table's metadata records."""
        ...


@runtime_checkable
class SessionBackend(Backend, Protocol):
    """A backend measured on this machine (`capabilities.bundled` False): fresh sessions, timed
    by the shared protocol loop here."""

    needs_onnx: bool

    def open(self, model: Any) -> Runner:
        """A no-argument runner on a fresh session of `model` (a `BlockModel` or `ModelFile`)."""
        ...


@runtime_checkable
class BundleBackend(Backend, Protocol):
    """A device measured one bundle at a time (`capabilities.bundled` True: ssh, adb)."""

    needs_onnx: bool

    def measure_plan(self, plan: Any, spec: Any, net: Any, protocol: Any, writer: Any,
                     on_session: Callable[[str], None] | None = None,
                     on_resolution: Callable[[int, str], None] | None = None,
                     extra: list[Any] | None = None,
                     on_extra: Callable[[str, dict[str, float]], None] | None = None) -> int:
        """Measure the plan's missing blocks (rows appended through `writer`) and the `extra`
        whole models (their statistics to `on_extra(key, stats)`) in one bundle and one run."""
        ...

    def measure_models(self, models: list[Any], protocol: Any,
                       on_session: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
        """Statistics (ms) of whole models by key, timed in one bundle on the device."""
        ...

    def run_metadata(self) -> dict[str, Any]:
        """What the last run learnt about the device (temperatures, waits) for the table's metadata."""
        ...


def capabilities(backend: Any) -> Capabilities:
    """The capabilities `backend` declares (a typed error-free default for a bare test double
    would hide a missing declaration, so there is none: every backend declares them)."""
    return backend.capabilities


def is_bundled(backend: Any) -> bool:
    """Whether `backend` measures on a device one bundle at a time (ssh, adb)."""
    return bool(backend.capabilities.bundled)


__all__ = ["Backend", "BundleBackend", "Capabilities", "Runner", "SessionBackend", "capabilities", "is_bundled"]
