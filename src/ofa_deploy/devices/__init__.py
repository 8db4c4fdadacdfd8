"""Targets we measure latency on: descriptors (`devices/*.yaml`) and backends.

Backends (`devices.local`: onnxruntime, torch, CUDA; later `devices.ssh`, `devices.adb`) import
their runtimes lazily; importing this package only reads descriptors.
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
