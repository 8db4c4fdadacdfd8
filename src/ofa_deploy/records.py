"""The records that chain the commands: `profile` -> `search` -> `export` -> `benchmark`.

Why records rather than fixed output names: every step writes wherever the user asks, and the
next step should not need the path (or the device, or the supernet) repeated. Each step writes one
small JSON file in `paths.records_dir()` (`$OFA_DEPLOY_HOME/records` when that is set), atomically:

- `last_profile.json`: `device`, `table` (the table folder), `space` (a `SpaceSpec` dict), and for
  ssh / adb devices `remote` (the `--host`, `--serial`, `--benchmark-binary` given, so that
  `benchmark` on that device needs them not again);
- `last_search.json`: `path` (the subnet file), `paths` (every file of that run), `budget`,
  `device` (whose table the search used, or null), `supernet` (checkpoint path or null), `space`;
- `last_export.json`: `path` (the exported file), `sha256`, `device` (the search's), `subnet`.

Every record also holds `time` (ISO UTC). Beside them, `devices.json` maps the names of device
descriptors given by path (`-d ./board.yaml`) to their files, so that the name the table is filed
under finds the same descriptor in every later command (`devices.descriptor.device_name`). Reading a missing or unreadable record gives None: the
command then falls back to its own default. Which defaults each step takes from them is `flow`'s job.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import paths
from .errors import RecordError
from .fsio import atomic_write_text, sha256_file

PROFILE, SEARCH, EXPORT = "profile", "search", "export"
STEPS = (PROFILE, SEARCH, EXPORT)


def record_path(step: str) -> Path:
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    return paths.records_dir() / f"last_{step}.json"


def write_record(step: str, doc: dict[str, Any]) -> Path:
    """Replace the record of `step` (write-then-rename: a reader never sees half a file)."""
    target = record_path(step)
    target.parent.mkdir(parents=True, exist_ok=True)
    full = {**doc, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return atomic_write_text(target, json.dumps(full, indent=2) + "\n")


def read_record(step: str) -> dict[str, Any] | None:
    p = record_path(step)
    try:
        doc = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and "time" in doc else None


def _abs(path: str | os.PathLike | None) -> str | None:
    return str(Path(path).resolve()) if path is not None else None


# ---- one writer per step ---------------------------------------------------------------------
def remember_profile(device: str, table: str | os.PathLike, space: dict[str, Any],
                     remote: dict[str, Any] | None = None) -> Path:
    doc = {"device": device, "table": _abs(table), "space": space}
    if remote := {k: v for k, v in (remote or {}).items() if v is not None}:
        doc["remote"] = remote
    return write_record(PROFILE, doc)


def remember_search(path: str | os.PathLike, paths_: list[str | os.PathLike] | None = None, *,
                    budget: dict[str, Any] | None = None, device: str | None = None,
                    supernet: str | os.PathLike | None = None, space: dict[str, Any] | None = None) -> Path:
    return write_record(SEARCH, {"path": _abs(path), "paths": [_abs(p) for p in (paths_ or [path])],
                                 "budget": budget, "device": device, "supernet": _abs(supernet), "space": space})


def remember_export(path: str | os.PathLike, *, device: str | None = None,
                    subnet: str | os.PathLike | None = None) -> Path:
    return write_record(EXPORT, {"path": _abs(path), "sha256": sha256_file(path), "device": device,
                                 "subnet": _abs(subnet)})


# ---- descriptors given by path ------------------------------------------------------------------
def _devices_file() -> Path:
    return paths.records_dir() / "devices.json"


def remembered_descriptors() -> dict[str, str]:
    try:
        doc = json.loads(_devices_file().read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(doc, dict) else {}


def remember_descriptor(name: str, path: str | os.PathLike) -> None:
    """Record that device `name` is described by the file `path` (the latest path given wins)."""
    known = remembered_descriptors()
    if known.get(name) == _abs(path):
        return
    target = _devices_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps({**known, name: _abs(path)}, indent=2) + "\n")


# ---- readers that say what to do when the record is missing ------------------------------------
def last_search_path() -> Path:
    """The subnet file of the last search; `RecordError` saying what to do when there is none."""
    rec = read_record(SEARCH)
    if rec is None or not rec.get("path"):
        raise RecordError(f"no search has been run yet (no {record_path(SEARCH)}); run `ofa-deploy search "
                          "--latency 25ms` first, or give --subnet FILE")
    p = Path(rec["path"])
    if not p.exists():
        raise RecordError(f"the last search's subnet file {p} no longer exists; run the search again or give "
                          "--subnet FILE")
    return p


def last_export_path() -> Path:
    """The file of the last export, checked unchanged since (sha256); `RecordError` otherwise."""
    rec = read_record(EXPORT)
    if rec is None or not rec.get("path"):
        raise RecordError(f"nothing has been exported yet (no {record_path(EXPORT)}); run `ofa-deploy export "
                          "--format tflite` first, or give the file to benchmark")
    p = Path(rec["path"])
    if not p.is_file():
        raise RecordError(f"the last exported file {p} no longer exists; export again or give a file")
    if rec.get("sha256") and sha256_file(p) != rec["sha256"]:
        raise RecordError(f"{p} changed since `ofa-deploy export` wrote it (sha256 differs); export again or "
                          "give the file explicitly")
    return p


__all__ = ["EXPORT", "PROFILE", "SEARCH", "STEPS", "last_export_path", "last_search_path", "read_record",
           "record_path", "remember_descriptor", "remember_export", "remember_profile", "remember_search",
           "remembered_descriptors",
           "write_record"]
