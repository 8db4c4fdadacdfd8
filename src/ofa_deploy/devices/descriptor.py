"""Device descriptors: one small YAML per target (`devices/cpu.yaml`, `devices/rpi4.yaml`, ...).

A descriptor says how to reach a device and what to run there, nothing about how to measure
(that is the shared `latency.protocol`). Fields:

- `name`, `description`
- `connection`: `local` | `ssh` | `adb` | `none` (a device known by its latency tables only, e.g.
  the official Note10 tables imported with `lut import`: searches use its table, nothing can be
  measured on it; `lut import` writes such a minimal descriptor for a name that has none)
- `runtime`: `onnxruntime` | `torch` | `torch-cuda` | `onnxruntime-cuda` | `tflite`
- `threads` (default 1), `precision` (`fp32` | `fp16` | `int8`), `delegate` (`xnnpack`, `gpu`, `nnapi`...)
- `cores`: CPU ids to pin to (`taskset`), e.g. the big cores of a phone
- ssh: `host` (or `--host`), `user`, `port`, `python`, `workdir`; adb: `serial` (or `--serial`;
  without either, the only attached device is used and the backend says so: never "the first
  one listed"), `workdir`
- `guard`: thermal / frequency settings a remote guard reads (e.g. `max_temp_c`, `cooldown_s`)
- `extra`: free-form backend settings
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .. import paths
from ..errors import DeviceError

CONNECTIONS = ("local", "ssh", "adb", "none")
RUNTIMES = ("onnxruntime", "torch", "torch-cuda", "onnxruntime-cuda", "tflite")
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class DeviceDescriptor:
    name: str
    connection: str = "local"
    runtime: str = "onnxruntime"
    threads: int = 1
    precision: str = "fp32"
    description: str = ""
    delegate: str | None = None
    cores: tuple[int, ...] | None = None
    host: str | None = None
    user: str | None = None
    port: int | None = None
    python: str | None = None
    workdir: str | None = None
    serial: str | None = None
    guard: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # the file it was read from

    def __post_init__(self) -> None:
        where = f"device {self.name!r}" + (f" ({self.source})" if self.source else "")
        if not isinstance(self.name, str) or not self.name.replace("-", "").replace("_", "").isalnum():
            raise DeviceError(f"{where}: name must be letters, digits, '-' or '_'")
        if self.connection not in CONNECTIONS:
            raise DeviceError(f"{where}: connection {self.connection!r} is not one of {', '.join(CONNECTIONS)}")
        if self.runtime not in RUNTIMES:
            raise DeviceError(f"{where}: runtime {self.runtime!r} is not one of {', '.join(RUNTIMES)}")
        if self.precision not in PRECISIONS:
            raise DeviceError(f"{where}: precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise DeviceError(f"{where}: threads must be a positive integer, got {self.threads!r}")
        # host / serial may be left out (shared descriptors like rpi4.yaml): `profile --host` or
        # `--serial` gives them, and the ssh / adb backend says so when neither does.
        if self.connection in ("local", "none") and (self.host or self.serial):
            raise DeviceError(f"{where}: a {self.connection} device takes no 'host' or 'serial'")
        if self.cores is not None:
            cores = self.cores if isinstance(self.cores, (list, tuple)) else None
            if not cores or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cores):
                raise DeviceError(f"{where}: cores must be a list of CPU ids (integers >= 0), e.g. [4, 5, 6, 7]; "
                                  f"got {self.cores!r}")
            object.__setattr__(self, "cores", tuple(cores))
        if self.port is not None and (not isinstance(self.port, int) or isinstance(self.port, bool)
                                      or not 0 < self.port < 65536):
            raise DeviceError(f"{where}: port must be an integer 1..65535, got {self.port!r}")
        for key in ("description", "delegate", "host", "user", "python", "workdir", "serial"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise DeviceError(f"{where}: {key} must be text (quote it in the YAML), got {value!r}")
        for key in ("guard", "extra"):
            if getattr(self, key) is None:  # `extra:` left empty in the YAML
                object.__setattr__(self, key, {})
            if not isinstance(getattr(self, key), dict):
                raise DeviceError(f"{where}: {key} must be a mapping of settings, got {getattr(self, key)!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        if d["cores"] is not None:
            d["cores"] = list(d["cores"])
        return {k: v for k, v in d.items() if v not in (None, {}, "")}

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str | None = None) -> DeviceDescriptor:
        if not isinstance(d, dict):
            raise DeviceError(f"{source or 'device descriptor'}: must be a mapping")
        known = {f.name for f in fields(cls)} - {"source"}
        extra = set(d) - known
        if extra:
            raise DeviceError(f"{source or 'device descriptor'}: unknown field(s) {sorted(extra)}; "
                              f"known: {sorted(known)}")
        if "name" not in d:
            raise DeviceError(f"{source or 'device descriptor'}: lacks 'name'")
        return cls(**d, source=source)


def devices_dirs() -> list[Path]:
    """Where descriptors are looked up, first match wins: `$OFA_DEPLOY_DEVICES` (os.pathsep-separated),
    the user's `<data>/devices/`, then the shipped ones (the repository's `devices/`)."""
    dirs = [Path(p) for p in os.environ.get("OFA_DEPLOY_DEVICES", "").split(os.pathsep) if p]
    return [*dirs, paths.user_devices_dir(), paths.shipped_devices_dir()]


def list_devices() -> list[str]:
    names: dict[str, None] = {}
    for d in devices_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                names.setdefault(p.stem, None)
    return list(names)


def load_device(name_or_path: str | os.PathLike) -> DeviceDescriptor:
    """A descriptor by name (`cpu`, `rpi4`) or by path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise DeviceError(f"{p}: no such device descriptor file")
        return _read(p)
    for d in devices_dirs():
        cand = d / f"{name_or_path}.yaml"
        if cand.is_file():
            return _read(cand)
    from ..records import remembered_descriptors

    given = remembered_descriptors().get(str(name_or_path))
    if given is not None and Path(given).is_file():  # a descriptor once given by path (`device_name`)
        desc = _read(Path(given))
        if desc.name == str(name_or_path):
            return desc
    known = ", ".join(list_devices()) or "none"
    raise DeviceError(f"unknown device {str(name_or_path)!r}; known devices: {known} "
                      "(or give the path of a descriptor YAML)")


def table_only_descriptor(name: str, why: str) -> Path | None:
    """For a device that has no descriptor (`lut import --device NAME`): write a minimal one,
    `connection: none`, among the user's descriptors and return its path; None when `name` has a
    descriptor already. A name a descriptor cannot take is refused (`DeviceError`) before writing."""
    desc = DeviceDescriptor(name=name, connection="none", description=f"known by its latency tables only ({why}); "
                            "nothing can be measured on it: give it a connection (ssh, adb, local) to profile, "
                            "verify or benchmark there")
    try:
        load_device(name)
        return None
    except DeviceError:
        pass
    from ..fsio import atomic_write_text

    path = paths.user_devices_dir() / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "# written by ofa-deploy: a device known by its latency tables only\n"
                      + yaml.safe_dump(desc.to_dict(), sort_keys=False))
    return path


def is_descriptor_path(text: str | os.PathLike) -> bool:
    p = Path(text)
    return p.suffix in (".yaml", ".yml") or p.is_file()


def device_name(text: str | None) -> str | None:
    """The device a `--device` argument means, by name. A descriptor file (`./board.yaml`) means the
    device its `name` field names: the name its table is filed under, its records and subnet files
    carry; the file is remembered under that name (`records.remember_descriptor`), so that the name,
    given later or read from a record, loads the same descriptor. A name stays as it is."""
    if text is None or not is_descriptor_path(text):
        return text
    desc = load_device(text)
    from ..records import remember_descriptor

    remember_descriptor(desc.name, text)
    return desc.name


def _read(path: Path) -> DeviceDescriptor:
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise DeviceError(f"{path}: not a text file; a device descriptor is YAML (see devices/cpu.yaml)") from None
    except OSError as e:
        raise DeviceError(f"{path}: cannot read device descriptor ({e.strerror or type(e).__name__})") from None
    except yaml.YAMLError as e:
        raise DeviceError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); see devices/cpu.yaml") from None
    return DeviceDescriptor.from_dict(data, source=str(path))
