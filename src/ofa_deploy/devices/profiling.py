"""`ofa-deploy profile` as one object: the space, device, backend, protocol and method from the
command's options, then the two stages (blocks timed alone, then whole subnets in context), then
the record `search` starts from. The command only draws progress bars and prints.

Lives in `devices` (not `latency`): it loads device descriptors and makes their backends, which
`latency` may not import (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import checks
from ..space import FamilySpec, parse_resolutions
from ..space.options import space_from_options

OnSession = Callable[[str], None]
OnResolution = Callable[[int, str], None]


@dataclass
class ProfileOptions:
    """What `ofa-deploy profile` was given (None: the default)."""

    device: str = "cpu"
    resolutions: str | None = None
    width: float | None = None
    classes: int | None = None
    in_channels: int | None = None
    kind: str | None = None
    supernet: Path | None = None
    out: Path | None = None
    runtime: str | None = None
    threads: int | None = None
    sessions: int = 3
    max_runs: int = 200
    seed: int = 0
    stat: str | None = None
    method: str | None = None
    subnets: int | None = None
    fresh: bool = False
    force: bool = False
    remote: dict[str, Any] = field(default_factory=dict)  # host, accept_new_host_key, serial, benchmark_binary
    precision: str | None = None  # fp32 | int8 (None: the descriptor's)


def build_net(spec: FamilySpec, supernet: Path | None, seed: int = 0) -> Any:
    """The supernet whose blocks are timed: the checkpoint's, else random weights (seeded)."""
    import torch

    from ..nn import load_supernet
    from ..nn.registry import new_supernet

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # exporting only; more threads fight the measurements and other jobs
    net = load_supernet(supernet) if supernet is not None else new_supernet(spec)
    return net.eval()


def loadavg() -> tuple[float, ...]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return ()


class ProfileRun:
    """One profile: `start` checks everything and locks the table folder; `measure_blocks` and
    `measure_incontext` run the stages; `finish` records it and returns the summary."""

    def __init__(self, o: ProfileOptions):
        from ..devices import load_device
        from ..devices.local import make_backend
        from ..latency import default_table_dir, incontext
        from ..latency.options import protocol_for
        from ..latency.profiler import plan_profile

        if o.supernet is None and o.width is None and o.classes is None and o.in_channels is None and o.kind is None:
            from ..nn.shipped import shipped_supernet_path

            o.supernet = shipped_supernet_path()
        self.options = o
        self.spec = spec = space_from_options(o.width, o.classes, o.in_channels, o.supernet, o.kind)
        assert spec is not None
        rs = parse_resolutions(o.resolutions, spec)
        desc = load_device(o.device)
        if o.precision is not None:
            import dataclasses

            from ..latency.int8 import check_precision

            desc = dataclasses.replace(desc, precision=check_precision(o.precision))
        self.desc = desc
        self.backend = make_backend(desc, o.runtime, o.threads, **o.remote)
        self.proto = protocol_for(o.sessions, o.max_runs, o.seed)
        self.method = incontext.choose_method(self.backend, o.method)
        self.subnets = checks.count(incontext.default_subnets(self.method, self.backend) if o.subnets is None else o.subnets,
                                    "--subnets", checks.MAX_SUBNETS, 1)
        folder = o.out or default_table_dir(desc.name, spec, desc.precision)
        incontext.check_method(folder, self.method, o.fresh)
        extra = {"device_descriptor": desc.to_dict(), "supernet": str(o.supernet) if o.supernet else "random init",
                 "load_avg_at_start": list(loadavg())}
        self.net: Any = None
        self.int8: Any = None
        if desc.precision == "int8":  # representative inputs: the supernet's dataset (`devices.int8_inputs`)
            from .int8_inputs import int8_calibration

            self.int8 = int8_calibration(spec, self._net())
            extra["int8"] = self.int8.record()
        self.plan = plan_profile(spec, desc.name, self.backend.info(), rs, folder, self.proto, desc.precision,
                                 o.fresh, extra, o.stat, o.force)
        self.written = 0
        self.stage = "blocks"
        self.t0 = time.perf_counter()
        self.t_isolated = 0.0

    @property
    def folder(self) -> Path:
        return self.plan.folder

    def _net(self) -> Any:
        if self.net is None:
            self.net = build_net(self.spec, self.options.supernet, self.options.seed)
        return self.net

    @property
    def fit(self) -> Any:
        """The in-context fit handed to the block stage, so that a remote device times the fit's whole
        subnets in the blocks' bundle and run (None: not fit, or int8, whose whole subnets are
        quantised whole and sent by the in-context stage)."""
        from ..latency import incontext

        if self.method != "fit" or self.int8 is not None:
            return None
        return incontext.FitRequest(self.subnets, self.options.seed)

    def block_sessions(self) -> int:
        """Progress-bar total of `measure_blocks` (0: every block row is already there)."""
        from ..latency import incontext

        if not self.plan.n_todo:
            return 0
        return self.plan.n_todo * self.proto.sessions + incontext.bundled_fit_sessions(
            self.plan, self.backend, self.fit, self.proto)

    def measure_blocks(self, on_session: OnSession | None = None, on_resolution: OnResolution | None = None) -> int:
        """Time every block row still missing, each alone; returns the rows written."""
        from ..latency.profiler import run_profile

        if self.plan.n_todo:
            self.written = run_profile(self.plan, self.spec, self._net(), self.backend, self.proto,
                                       on_session=on_session, on_resolution=on_resolution, int8=self.int8,
                                       fit=self.fit)
        elif self.plan.lock is not None:
            self.plan.lock.release()  # nothing to measure alone; the in-context stage takes the lock itself
        self.t_isolated = time.perf_counter() - self.t0
        return self.written

    def incontext_sessions(self) -> int:
        """Progress-bar total of `measure_incontext` (0: nothing to do in context)."""
        from ..latency import LatencyTable, incontext

        self.stage = "incontext"
        return incontext.stage_sessions(LatencyTable.load(self.folder), self.method, self.subnets, self.proto)

    def measure_incontext(self, on_session: OnSession | None = None,
                          on_resolution: OnResolution | None = None) -> None:
        from ..latency import incontext

        self.stage = "incontext"
        incontext.run_incontext(self.folder, self._net(), self.backend, self.proto, self.method, self.subnets,
                                seed=self.options.seed, on_session=on_session, on_resolution=on_resolution,
                                int8=self.int8)

    def interrupted(self) -> str:
        """What an interruption (Ctrl-C) kept, and how to resume, as one line."""
        if self.stage == "blocks":
            from ..latency.table import read_rows

            kept = len(read_rows(self.folder / "table.csv", torn="skip"))
            return f"interrupted: {kept} rows kept in {self.folder}; rerun the same command to resume"
        return (f"interrupted: the resolutions done in context are kept in {self.folder}, and the whole subnets "
                "already timed for the next one; rerun the same command to resume")

    def finish(self) -> tuple[Any, dict[str, Any]]:
        """Remember the profile (`search`'s default device and table); the table and its summary."""
        from ..latency import LatencyTable
        from ..records import remember_profile

        table = LatencyTable.load(self.folder)
        remote = self.options.remote
        binary = remote.get("benchmark_binary")
        remember_profile(self.desc.name, self.folder, self.spec.to_dict(),
                         {"host": remote.get("host"), "serial": remote.get("serial"),
                          "benchmark_binary": str(Path(binary).resolve()) if binary else None})
        info = {**table.summary(), "folder": str(self.folder), "written": self.written,
                "seconds": round(time.perf_counter() - self.t0, 1), "isolated_seconds": round(self.t_isolated, 1)}
        return table, info

    def coverage_note(self, table: Any) -> str | None:
        """The note when `table` covers fewer of the space's resolutions than the space has (searches
        with it consider only those), else None."""
        from ..space.spec import _range_text

        if len(table.resolutions) >= len(self.spec.resolutions):
            return None
        return (f"note: the table covers r {_range_text(tuple(table.resolutions))} of the space's r "
                f"{_range_text(tuple(self.spec.resolutions))}; searches with it consider only those (add the "
                "others with --resolutions all)")
