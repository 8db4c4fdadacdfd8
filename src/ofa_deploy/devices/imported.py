"""`ofa-deploy lut import`: official per-resolution YAML lookup tables saved as one of our tables
of a named device (and, for a device without a descriptor, a table-only descriptor for it).

Lives in `devices` (not `latency`): the device name is checked as a descriptor would take it, and
the table-only descriptor is written here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import checks
from ..errors import BadValueError


def int_list(text: str, option: str) -> tuple[int, ...]:
    """`3,6` as integers; anything else one line naming `option`."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BadValueError(f"{option} takes integers separated by commas (3,6), got {text!r}") from None
    if not values:
        raise BadValueError(f"{option} is empty; give integers separated by commas (3,6)")
    return values


def official_files(files: Sequence[Path]) -> list[Path]:
    """The files given, a folder standing for its `*_lookup_table.yaml` files; none is refused."""
    paths: list[Path] = []
    for f in files:
        paths += sorted(f.glob("*_lookup_table.yaml")) if f.is_dir() else [f]
    if not paths:
        raise BadValueError("no *_lookup_table.yaml files given")
    return paths


def import_tables(files: Sequence[Path], device: str, width: float | None, classes: int, in_channels: int,
                  kind: str, expands: str | None, out: Path | None, force: bool) -> tuple[Any, Path, Path | None]:
    """Import the files as `device`'s table (into `out`, default the user's DEVICE/SPACE folder): the
    table, its folder, and the descriptor written for a device that had none (else None). Everything
    is checked before any file is read."""
    from ..latency import default_table_dir, import_official
    from ..outputs import check_output
    from ..space import official_table_space
    from .descriptor import DeviceDescriptor, table_only_descriptor

    paths = official_files(files)
    checks.space_options(width, classes, in_channels)
    spec = official_table_space(width, classes, in_channels, kind,
                                int_list(expands, "--expands") if expands is not None else None)
    folder = check_output(out or default_table_dir(device, spec), "table", force)  # before any file is read
    DeviceDescriptor(name=device, connection="none")  # a name a descriptor cannot take: refused now
    table = import_official(paths, spec, device)
    folder = table.save(folder)
    written = table_only_descriptor(device, f"imported by `ofa-deploy lut import` into {folder}")
    return table, folder, written
