"""`ofa-deploy benchmark` as one object: what is timed and how, settled before anything is timed,
then the timing.

The file (default: the last export), the device its subnet was searched for and the table that
search used (`flow.benchmark_inputs`); the checked timing protocol (`latency.options.protocol_for`);
the ssh / adb options completed by the last profile of that device (`flow.remote_options`); then
`devices.benchmark.benchmark`. A top-level module, as `subnet_convert` is: it composes `flow`,
`latency` and `devices`, and `devices` may not import `flow` (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import checks


class BenchmarkRun:
    """The inputs of one benchmark, checked in the command's order (timing options, threads, file and
    device, remote options); `on_note(line)` hears each default taken, before the file is checked."""

    def __init__(self, file: str | os.PathLike | None, device: str | None, table: str | os.PathLike | None,
                 threads: int | None, sessions: int, max_runs: int, remote: dict[str, Any],
                 on_note: Callable[[str], None] = lambda line: None):
        from .devices.benchmark import check_model_file
        from .flow import benchmark_inputs, remote_options
        from .latency.options import protocol_for

        self.proto = protocol_for(sessions, max_runs)
        self.threads = checks.threads(threads)
        self.file, self.device, self.table, notes = benchmark_inputs(file, device, table)
        self.remote, more = remote_options(self.device, remote)
        for line in notes + more:
            on_note(line)
        check_model_file(self.file)

    def run(self) -> dict[str, Any]:
        """Time the file (`devices.benchmark.benchmark`): measured and predicted latency, their provenance."""
        from .devices.benchmark import benchmark

        return benchmark(self.file, self.device, self.threads, self.proto, table_dir=self.table, **self.remote)
