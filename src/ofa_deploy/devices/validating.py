"""`ofa-deploy latency validate` as one object: the table and its device from the options (a named
table is timed on its own device only), the writer lock, the backend with the table's runtime and
threads, then the timing of random whole subnets and what is stored (the held-out band, a
calibration). The command only draws the progress bars and prints.

Lives in `devices` (not `latency`): it loads the device descriptor and makes its backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import checks
from ..space import parse_resolutions
from ..space.options import space_from_options
from .profiling import build_net


@dataclass
class ValidateOptions:
    """What `ofa-deploy latency validate` was given (None: the default)."""

    device: str | None = None
    table: Path | None = None
    samples: int = 50
    calibrate: bool = False
    holdout: float = 0.5
    resolutions: str | None = None
    width: float | None = None
    classes: int | None = None
    in_channels: int | None = None
    supernet: Path | None = None
    sessions: int = 3
    seed: int = 0
    out: Path | None = None
    remote: dict[str, Any] = field(default_factory=dict)  # host, accept_new_host_key, serial, benchmark_binary


class ValidationRun:
    """`__init__` checks the options (before anything is read or written), finds the table, locks its
    folder (one writer, held until the object is dropped) and makes the backend; `run` times the
    subnets and stores the record."""

    def __init__(self, o: ValidateOptions):
        from ..devices import load_device
        from ..devices.local import make_backend
        from ..fsio import ensure_writable, writer_lock
        from ..latency.options import protocol_for
        from ..latency.resolve import resolve_table
        from ..latency.validation import check_split, validation_device

        self.options = o
        checks.count(o.samples, "--samples", checks.MAX_SUBNETS, 4 if o.calibrate else 2)
        self.fit_fraction = 1 - check_split(o.samples, o.holdout) if o.calibrate else 0.5
        spec = space_from_options(o.width, o.classes, o.in_channels, o.supernet)
        self.found = resolve_table((o.device or "cpu") if o.table is None else None, o.table, spec)
        self.table, self.folder = self.found.table, self.found.writable_folder()  # a shipped table's go to the user's
        desc = load_device((o.device or "cpu") if o.table is None else validation_device(o.device, self.table.device))
        self.resolutions = parse_resolutions(o.resolutions, self.table.spec) if o.resolutions is not None else None
        self.lock = writer_lock(self.folder, "latency table")  # one writer, held to the end (metrics are stored)
        ensure_writable(o.out or self.folder)
        md = self.table.metadata
        self.backend = make_backend(desc, md.get("runtime") if md.get("runtime") != "official" else None,
                                    md.get("threads"), **o.remote)
        self.proto = protocol_for(o.sessions, int(md.get("protocol", {}).get("max_runs", 200)), o.seed)
        supernet, self.int8 = o.supernet, None
        if self.table.precision == "int8":  # its subnets are timed int8, quantised as the table's were, from its weights
            from .int8_inputs import table_supernet

            supernet = supernet or table_supernet(md)
        self.net = build_net(self.table.spec, supernet, o.seed)
        if self.table.precision == "int8":
            from .int8_inputs import int8_calibration

            self.int8 = int8_calibration(self.table.spec, self.net,
                                         n_images=int((md.get("int8") or {}).get("images") or 32))

    def runtime_warning(self) -> str | None:
        """Said when the table was measured with another runtime version than this backend's."""
        md, bi = self.table.metadata, self.backend.info()
        if md.get("runtime_version") and bi.get("runtime_version") != md.get("runtime_version"):
            return (f"table measured with {md.get('runtime')} {md.get('runtime_version')}, "
                    f"validating with {bi.get('runtime_version')}")
        return None

    def run(self, on_session: Callable[[str], None] | None = None,
            on_export: Callable[[Any], None] | None = None) -> dict[str, Any]:
        """Time the subnets, store the record (and the calibration) with the table, write
        validation.csv/.png; the result, with `validation` (the record), `folder` and `files`."""
        from ..latency.resolve import save_calibration, save_validation_record
        from ..latency.table import store_metadata
        from ..latency.validation import save_validation, validate, validation_record

        o = self.options
        result = validate(self.table, self.net, self.backend, o.samples, self.proto, self.resolutions, o.seed,
                          o.calibrate, self.fit_fraction, on_session=on_session, on_export=on_export,
                          int8=self.int8)
        record = validation_record(result, time.strftime("%Y-%m-%dT%H:%M:%S"))
        if o.calibrate:
            self.folder = save_calibration(self.found, result["calibration"])
            store_metadata(self.folder, validation=record)
        else:
            self.folder = save_validation_record(self.found, record)
        result["validation"] = record
        result["files"] = [str(f) for f in save_validation(result, o.out or self.folder)]
        return result

