"""`ofa-deploy report`: the flow (device and table, search, subnet, exports, benchmarks) as one
self-contained HTML page. `collect` gathers the data from the records, `html` renders it; the plots
are `ofa_deploy.plots`' (the same functions draw the PNGs the commands write)."""

from __future__ import annotations

import os
from pathlib import Path

from ..fsio import atomic_write_text
from ..outputs import check_output
from ..paths import user_data_dir
from .collect import FlowData, collect
from .html import render, reproduce_commands


def default_report_path(data: FlowData) -> Path:
    stem = data.subnet_path.stem if data.subnet_path is not None else "flow"
    return user_data_dir() / "reports" / f"{stem}.html"


def write_report(out: str | os.PathLike | None = None, *, subnet: str | os.PathLike | None = None,
                 table: str | os.PathLike | None = None, files: list[str | os.PathLike] | None = None,
                 force: bool = False) -> tuple[Path, FlowData]:
    """Collect the flow's data, render it and write the page atomically; (path, data)."""
    if out is not None:
        check_output(out, "html-report", force)
    data = collect(subnet, table, files)
    path = (Path(out) if out is not None else default_report_path(data)).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, render(data)), data


__all__ = ["FlowData", "collect", "default_report_path", "render", "reproduce_commands", "write_report"]
