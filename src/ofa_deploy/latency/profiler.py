"""`profile`: measure a space's table entries on a device and append them to its table folder.

Resumable by design: `meta.yaml` is written (atomically) before the first measurement, every
finished entry is appended to `table.csv` at once, and a rerun measures only the keys still
missing (after dropping a half-written last row). A rerun with other settings (device, runtime
or its version, threads, space, protocol) is refused, so one table never mixes two setups.

The blocks are the supernet's own modules (`block_models`), timed by the shared `protocol`
through a backend (`devices.backend.Backend`). One measured here (`open(model)`, `needs_onnx`) is
timed session by session; a bundled one (`capabilities.bundled`: `devices.ssh`, `devices.adb`)
gets the plan as one bundle (`measure_plan`), measured on the device, rows appended through
`writer` as they arrive, with the in-context fit's whole subnets in the same bundle when a fit
follows (`fit`: `incontext.measure_plan_with_fit`). `run_metadata()` (temperatures, cool-down
waits) is merged into `meta.yaml`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LatencyTableError, NoSpaceError
from ..fsio import WriterLock, writer_lock
from ..outputs import check_output
from ..space import FamilySpec, spec_from_dict
from .blocks import resolution_keys
from .drift import LOG_FILE
from .protocol import Protocol, measure
from .table import (
    META_FILE,
    TABLE_FILE,
    Row,
    RowWriter,
    check_unique,
    read_metadata,
    read_rows,
    write_metadata,
)

# Settings that must match for a rerun to continue a table.
_SAME = ("device", "backend", "runtime", "runtime_version", "threads", "precision", "protocol")


@dataclass
class ProfilePlan:
    folder: Path
    todo: dict[int, list[str]]          # resolution -> keys still to measure
    done: int                           # rows already there
    metadata: dict[str, Any] = field(default_factory=dict)
    lock: WriterLock | None = None      # this process is the folder's only writer until `run_profile` ends
    int8: Any = None                    # `latency.int8.Int8Calibration` of an int8 table (remote backends read it)

    @property
    def n_todo(self) -> int:
        return sum(len(v) for v in self.todo.values())


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def plan_profile(spec: FamilySpec, device: str, backend_info: dict[str, Any], resolutions: Sequence[int],
                 folder: str | os.PathLike, protocol: Protocol, precision: str = "fp32",
                 fresh: bool = False, extra_meta: dict[str, Any] | None = None, stat: str | None = None,
                 force: bool = False) -> ProfilePlan:
    """Check or create the table folder, lock it, and list what remains to be measured.

    `stat` is the statistic predictions will use (median by default; p10 where other jobs share
    the CPU, since contention only ever slows runs down); None keeps a resumed table's choice.
    The folder stays locked (one writer) until `run_profile` ends or the plan is dropped; `force`
    accepts a folder that holds another kind of output.
    """
    folder = Path(folder)
    bad = [r for r in resolutions if r not in spec.resolutions]
    if bad:
        raise LatencyTableError(f"resolution(s) {bad} are not in the space's resolutions "
                                f"({spec.resolutions[0]}..{spec.resolutions[-1]})")
    meta = {
        "device": device,
        "backend": backend_info.get("backend"),
        "runtime": backend_info.get("runtime"),
        "runtime_version": backend_info.get("runtime_version"),
        "threads": backend_info.get("threads"),
        "precision": precision,
        "host_cpu": backend_info.get("host_cpu"),
        "backend_info": backend_info,
        "protocol": protocol.to_dict(),
        "stat": stat or "median",
        "source": "measured: supernet modules exported alone to "
                  f"{'TFLite (litert-torch, fp32)' if backend_info.get('format') == 'tflite' else 'ONNX (opset 17)'}"
                  ", batch 1, random weights" + ("; quantised to int8 with representative inputs (see int8)"
                                                 if precision == "int8" else ""),
        "date_started": now(),
        "calibration": None,
        **device_state(backend_info),
        **(extra_meta or {}),
        "spec": spec.to_dict(),
    }
    check_output(folder, "table", force)
    lock = writer_lock(folder, "latency table")
    try:
        return _plan_locked(spec, resolutions, folder, meta, fresh, stat, lock)
    except BaseException:
        lock.release()
        raise


_STATE = ("governors", "governors_reason", "temp_c", "temp_reason")


def device_state(backend_info: dict[str, Any]) -> dict[str, Any]:
    """`{"device_state": ...}`: the CPU governors and temperature a remote device (ssh runner, adb)
    reported when the profile started, each null with the reason where the device exposes none;
    nothing for a backend that reports neither (local ones)."""
    if "governors" not in backend_info and "temp_c" not in backend_info:
        return {}
    state = {k: backend_info[k] for k in _STATE if k in backend_info}
    state.setdefault("governors", None)
    state.setdefault("temp_c", None)
    return {"device_state": state}


# Files a table folder holds about its table (`latency validate`, `drift`); `--fresh` removes them.
DERIVED_FILES = ("validation.csv", "validation.png", LOG_FILE)


def _plan_locked(spec: FamilySpec, resolutions: Sequence[int], folder: Path, meta: dict[str, Any], fresh: bool,
                 stat: str | None, lock: WriterLock) -> ProfilePlan:
    if fresh:  # what described the old table goes with it: its validation and its drift checks
        for name in (META_FILE, TABLE_FILE, *DERIVED_FILES):
            (folder / name).unlink(missing_ok=True)
    done_keys: set[tuple[int, str]] = set()
    if not (folder / META_FILE).exists() and _holds_rows(folder / TABLE_FILE):
        raise LatencyTableError(
            f"{folder} holds {TABLE_FILE} rows but no {META_FILE}, so the settings they were measured with are "
            f"unknown and new rows cannot be added to them; restore {META_FILE}, or add --fresh to discard the "
            "rows, or give another --out"
        )
    if (folder / META_FILE).exists():
        old = read_metadata(folder)
        old_spec = spec_from_dict(old["spec"])
        diffs = [k for k in _SAME if old.get(k) != meta.get(k)]
        if not old_spec.same_space(spec):
            diffs.insert(0, "space")
        if diffs:
            raise LatencyTableError(
                f"{folder} holds a table measured with other settings ({', '.join(diffs)} differ); "
                "add --fresh to discard it, or --out to write another folder"
            )
        rows = read_rows(folder / TABLE_FILE, repair=True)
        check_unique(rows, folder)
        done_keys = {(r.resolution, r.key) for r in rows}
        keep = {k: old[k] for k in ("date_started", "calibration") + (("stat",) if stat is None else ()) if k in old}
        meta.update(keep)
        for k, v in old.items():
            meta.setdefault(k, v)
    folder.mkdir(parents=True, exist_ok=True)
    meta["date_updated"] = now()
    write_metadata(folder, meta)
    todo = {}
    for r in resolutions:
        keys = [k for k in resolution_keys(spec, r).distinct() if (r, k) not in done_keys]
        if keys:
            todo[int(r)] = keys
    return ProfilePlan(folder, todo, len(done_keys), meta, lock)


def _holds_rows(path: Path) -> bool:
    """Whether a table.csv has anything after its header line."""
    return path.is_file() and len(path.read_bytes().splitlines()) > 1


def run_profile(plan: ProfilePlan, spec: FamilySpec, net: Any, backend: Any, protocol: Protocol,
                guard: Any = None, on_session: Callable[[str], None] | None = None,
                on_resolution: Callable[[int, str], None] | None = None, int8: Any = None,
                fit: Any = None) -> int:
    """Measure every key of the plan and append its row as soon as it is done. Returns rows written.
    `int8` (an `latency.int8.Int8Calibration`): the table is int8, every block is quantised first.
    `fit` (an `incontext.FitRequest`): the in-context fit that follows; a remote device times its
    whole subnets in the blocks' bundle and run (locally, `run_incontext` times them itself)."""
    from .block_models import block_models, onnx_bytes

    written = 0
    failed = False
    if int8 is not None:
        plan.int8 = int8
    try:
        with closing(RowWriter(plan.folder)) as writer:
            if backend.capabilities.bundled:  # remote: one bundle, one device process for the whole plan
                if fit is not None:
                    from .incontext import measure_plan_with_fit

                    return measure_plan_with_fit(plan, spec, net, backend, protocol, writer, fit, on_session,
                                                 on_resolution)
                return backend.measure_plan(plan, spec, net, protocol, writer, on_session, on_resolution)
            for r, keys in plan.todo.items():
                if on_resolution is not None:
                    on_resolution(r, "exporting")
                models = {m.name: m for m in block_models(net, spec, r, keys)}
                if backend.needs_onnx:
                    for m in models.values():
                        m.onnx_bytes = onnx_bytes(m.module, m.input_shape)
                if int8 is not None:
                    if on_resolution is not None:
                        on_resolution(r, "quantising to int8")
                    int8.quantise_blocks(list(models.values()), net, spec, r)
                if on_resolution is not None:
                    on_resolution(r, "measuring")
                written += _measure_into(models, writer, backend, protocol, guard, on_session)
        return written
    except BaseException:
        failed = True
        raise
    finally:  # also after an interruption: the rows kept are dated, and the device's readings kept
        try:
            meta = read_metadata(plan.folder)
            meta["date_updated"] = now()
            meta.update(backend.run_metadata())
            write_metadata(plan.folder, meta)
        except NoSpaceError:
            if not failed:  # after a failure (a full disk, most likely) the old meta.yaml stays, whole,
                raise       # and the user hears of the first failure, not of this one
        finally:
            if plan.lock is not None:
                plan.lock.release()


def _measure_into(models: dict[str, Any], writer: RowWriter, backend: Any, protocol: Protocol, guard: Any,
                  on_session: Callable[[str], None] | None) -> int:
    count = 0

    def on_entry(name: str, st: dict[str, float]) -> None:
        nonlocal count
        m = models[name]
        writer.write(Row(m.key, m.resolution, int(st["count"]), st["mean"], st["median"], st["std"],
                         st["p10"], st["p90"]))
        count += 1

    measure(list(models), lambda name: backend.open(models[name]), protocol, guard, on_entry, on_session)
    return count
