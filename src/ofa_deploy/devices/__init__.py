"""Targets we measure latency on: descriptors (`devices/*.yaml`) and backends.

Backends (`devices.local`: onnxruntime, LiteRT, torch, CUDA; `devices.ssh`: Linux boards;
`devices.adb`: Android phones) import their runtimes lazily (sessions and interpreters come from
`ofa_deploy.runtime`); `devices.benchmark` times an exported file against its table's
prediction. Importing this package only reads descriptors.
"""

from .descriptor import (
    CONNECTIONS,
    PRECISIONS,
    RUNTIMES,
    DeviceDescriptor,
    devices_dirs,
    list_devices,
    load_device,
)

__all__ = ["CONNECTIONS", "PRECISIONS", "RUNTIMES", "DeviceDescriptor", "devices_dirs", "list_devices", "load_device"]
