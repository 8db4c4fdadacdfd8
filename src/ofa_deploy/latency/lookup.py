"""What `latency predict`, `lut show` and `lut export` do with the table their options name (torch-free,
as every `lut` command is): the commands only parse options and print what these return."""

from __future__ import annotations

import os
from pathlib import Path

from .. import checks
from ..space import load_subnet
from ..space.options import space_from_options
from .official import export_official
from .resolve import table_of_options
from .table import LatencyTable


def predict_subnet_file(subnet: str | os.PathLike, device: str | None, table_path: str | os.PathLike | None,
                        raw: bool) -> tuple[LatencyTable, float, list[tuple[str, float]]]:
    """The table that `device`/`table_path` names for the subnet's space, the subnet's predicted ms (the block
    sum alone when `raw`, else with the table's stored calibration) and its per-layer breakdown."""
    sub = load_subnet(subnet)
    table = table_of_options(device, table_path, sub.spec)
    return table, table.predict_arch(sub.arch, calibrated=not raw), table.arch_breakdown(sub.arch)


def table_to_show(device: str | None, table_path: str | os.PathLike | None, width: float | None,
                  classes: int | None, in_channels: int | None, resolution: int | None) -> LatencyTable:
    """The table `lut show` prints (the space given by its options picks among a device's tables)."""
    spec = space_from_options(width, classes, in_channels, None)
    checks.integer(resolution, "--resolution", 8, checks.MAX_RESOLUTION, optional=True)
    return table_of_options(device, table_path, spec)


def export_official_tables(table_path: str | os.PathLike, out: str | os.PathLike, stat: str,
                           force: bool) -> list[Path]:
    """`lut export`: `out` checked (before anything is read) and the official per-resolution YAML files written."""
    from ..outputs import check_output

    check_output(out, "official-tables", force)
    return export_official(table_of_options(None, table_path, None), out, stat)
