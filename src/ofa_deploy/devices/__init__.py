"""Targets we measure latency on: descriptors (`devices/*.yaml`) and backends.

Backends (`devices.local`: onnxruntime, torch, CUDA; `devices.ssh`: Linux boards; `devices.adb`:
Android phones) import their runtimes lazily; importing this package only reads descriptors.
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
