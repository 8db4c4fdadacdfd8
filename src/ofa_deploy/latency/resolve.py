"""Which latency table a command means: the one resolver behind `search`, `latency validate|predict`,
`lut show` and `benchmark`.

What the user gives, and what it means:

- a **device name** (`--device cpu`): the user's table for that device and space first
  (`paths.user_tables_dir()/<device>/`: tables they profiled, imported or calibrated), else the
  one that ships (`paths.shipped_tables_dir()/<device>/`);
- a **table folder** of ours (`meta.yaml` + `table.csv`), or a device folder holding tables;
- an **official folder** of per-resolution YAML tables (`<r>_lookup_table.yaml`, as released with
  OFA), or one such file: imported on the fly for the space.

A device (or device folder) may hold tables of several spaces and of two precisions (fp32 in
`<space tag>/`, int8 in `<space tag>-int8/`, as `meta.yaml` `precision` says): the space and the
precision pick one. `precision` None means fp32 where the device has an fp32 table of the space
(what every command meant before int8 tables), else whatever there is. When no space
is named, it is the shipped demo supernet's (`default_space`), unless the device has only one
table. Shipped tables are read-only: `writable_folder` / `save_calibration` put what a command
would change (a calibration, validation plots) into user data instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import LatencyTableError, SpaceError
from ..space import FamilySpec, official_space, spec_from_dict
from .table import (
    META_FILE,
    OFFICIAL_NAME,
    LatencyTable,
    default_table_dir,
    import_official,
    profile_command,
    read_metadata,
    store_calibration,
    store_metadata,
)

SPACE_OPTIONS = "--width/--classes/--in-channels"


@dataclass(frozen=True)
class ResolvedTable:
    """A table and where it came from: `origin` is `user`, `shipped`, `path` (a folder given) or
    `official` (YAML tables imported on the fly; `folder` is then the folder or file they came from)."""

    table: LatencyTable
    folder: Path
    origin: str

    @property
    def shipped(self) -> bool:
        """True when the folder is part of the installed package (never written)."""
        return self.origin != "official" and paths.is_shipped(self.folder)

    def writable_folder(self) -> Path:
        """Where changes to this table go: its own folder, unless it is shipped or official; then
        the user's folder for its device and space (`paths.user_tables_dir()/<device>/<space tag>`)."""
        if self.origin == "official" or self.shipped:
            return default_table_dir(self.table.device, self.table.spec)
        return self.folder

    def info(self) -> dict[str, Any]:
        """What a subnet file or a report records about the table."""
        return {"path": str(self.folder.resolve()), "device": self.table.device, "origin": self.origin,
                "calibrated": self.table.calibration is not None, "stat": self.table.stat,
                "precision": self.table.precision}


def default_space() -> FamilySpec:
    """The shipped demo supernet's space: the space a lookup means when none is named. Read from the
    checkpoint's JSON space record, without torch (`lut show` stays torch-free)."""
    from ..space.checkpoint import checkpoint_space

    path = paths.shipped_supernet()
    if not path.exists():
        raise LatencyTableError(f"the shipped demo supernet is missing ({path}); name the space with "
                                f"{SPACE_OPTIONS}")
    return checkpoint_space(path)


def resolve_table(device: str | None = None, table: str | os.PathLike | None = None,
                  spec: FamilySpec | None = None, precision: str | None = None) -> ResolvedTable:
    """The table `--table` names (it wins), else the one of `--device` for `spec` and `precision`
    (see the module doc). A `--table` of another precision than an explicit `precision` is refused."""
    if table is not None:
        found = _from_path(Path(table), device, spec)
        if precision is not None and found.table.precision != precision:
            raise LatencyTableError(f"{found.folder} is an {found.table.precision} latency table, not {precision}; "
                                    f"give --precision {found.table.precision}, or the folder of an {precision} table")
        return found
    if device is None:
        raise LatencyTableError("give --device NAME (a device with a latency table) or --table FOLDER")
    candidates = [(f, origin) for origin, root in _roots() for f in _tables_in(root / device)]
    if candidates:
        candidates = _of_precision(candidates, spec, precision, device)
    if not candidates:
        have = ", ".join(available_devices()) or "none"
        raise LatencyTableError(
            f"no latency table for device {device!r} (have: {have}); measure one with "
            f"`{profile_command(device, spec, (spec or official_space()).resolutions[-1:])}` or give --table T")
    folder, origin = _pick(candidates, spec, f"device {device!r}", device)
    return ResolvedTable(LatencyTable.load(folder), folder, origin)


def available_devices() -> list[str]:
    """Devices with at least one table, the user's or shipped."""
    names = {d.name for _, root in _roots() if root.is_dir() for d in root.iterdir() if _tables_in(d)}
    return sorted(names)


def save_calibration(resolved: ResolvedTable, calibration: dict[str, Any] | None) -> Path:
    """Store a calibration with the table; returns the folder written. A shipped (or official) table
    is never modified: the calibrated table is saved as the user's own, which the resolver prefers
    from then on. An existing user table there is not overwritten."""
    resolved.table.set_calibration(calibration)
    target = resolved.writable_folder()
    if resolved.origin != "official" and target.resolve() == resolved.folder.resolve():
        store_calibration(target, calibration)  # under the table's lock, meta.yaml read again first
        return target
    if (target / META_FILE).exists():
        raise LatencyTableError(
            f"{target} already holds a table of this device and space; calibrate that one "
            f"(--table {target}), or move it away to calibrate a copy of {resolved.folder}")
    return resolved.table.save(target)


def save_validation_record(resolved: ResolvedTable, record: dict[str, Any]) -> Path:
    """Store validation metrics with the table (`meta.yaml` `validation`); like `save_calibration`,
    a shipped or official table gets a user copy instead (an existing user table there is updated,
    since validation does not change predictions)."""
    resolved.table.metadata["validation"] = record
    target = resolved.writable_folder()
    if (resolved.origin != "official" and target.resolve() == resolved.folder.resolve()) or \
            (target / META_FILE).exists():
        store_metadata(target, validation=record)
        return target
    return resolved.table.save(target)


# ---- internals ----------------------------------------------------------------------------------
def _roots() -> list[tuple[str, Path]]:
    return [("user", paths.user_tables_dir()), ("shipped", paths.shipped_tables_dir())]


def _tables_in(folder: Path) -> list[Path]:
    """The table folders `folder` stands for: itself, or its subfolders that are tables."""
    if (folder / META_FILE).exists():
        return [folder]
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if (p / META_FILE).exists()]


def _precision_of(folder: Path) -> str:
    try:
        return str(read_metadata(folder).get("precision") or "fp32")
    except LatencyTableError:
        return "fp32"


def _of_precision(candidates: list[tuple[Path, str]], spec: FamilySpec | None, precision: str | None,
                  device: str) -> list[tuple[Path, str]]:
    """The candidates of `precision` (None: fp32 ones first, then the others, in their order)."""
    tagged = [(c, _precision_of(c[0])) for c in candidates]
    if precision is None:
        return [c for c, p in tagged if p == "fp32"] + [c for c, p in tagged if p != "fp32"]
    kept = [c for c, p in tagged if p == precision]
    if not kept:
        have = ", ".join(sorted({p for _, p in tagged}))
        raise LatencyTableError(
            f"device {device!r} has no {precision} latency table (it has: {have}); measure one with "
            f"`{profile_command(device, spec, (spec or official_space()).resolutions[-1:], precision)}`")
    return kept


def _space_of(folder: Path) -> FamilySpec | None:
    try:
        return spec_from_dict(read_metadata(folder)["spec"])
    except (LatencyTableError, SpaceError):
        return None


def _pick(candidates: list[tuple[Path, str]], spec: FamilySpec | None, where: str,
          device: str) -> tuple[Path, str]:
    """The first candidate of `spec` (user tables come first); without a space, the only candidate,
    else the one of the default space."""
    if spec is None and len(candidates) == 1:
        return candidates[0]
    want = spec if spec is not None else default_space()
    for folder, origin in candidates:
        s = _space_of(folder)
        if s is not None and s.same_space(want):
            return folder, origin
    have = ", ".join(f"{f.name} ({o})" for f, o in candidates)
    if spec is None:
        raise LatencyTableError(f"{where} has several latency tables ({have}) and none of the shipped supernet's "
                                f"space; choose one with {SPACE_OPTIONS} or --table FOLDER")
    raise LatencyTableError(f"{where} has no latency table for the space {spec.describe()} (it has: {have}); "
                            f"measure one with `{profile_command(device, spec, spec.resolutions[-1:])}`")


def _official_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if OFFICIAL_NAME.search(path.name) else []
    if path.is_dir() and not (path / META_FILE).exists():
        return sorted(p for p in path.iterdir() if OFFICIAL_NAME.search(p.name))
    return []


def _from_path(path: Path, device: str | None, spec: FamilySpec | None) -> ResolvedTable:
    official = _official_files(path)
    if official:
        # The official tables are of the w1.2 ImageNet space unless a space is named.
        t = import_official(official, spec or official_space(), device=device or (path.parent if path.is_file() else path).name,
                            source=str(path.resolve()))
        return ResolvedTable(t, path, "official")
    candidates = [(f, "shipped" if paths.is_shipped(f) else "path") for f in _tables_in(path)]
    if not candidates:
        if not path.exists():
            raise LatencyTableError(f"{path}: no such latency table folder")
        raise LatencyTableError(f"{path}: holds no latency table (meta.yaml + table.csv) nor official "
                                "<r>_lookup_table.yaml files")
    if (path / META_FILE).exists():
        folder, origin = candidates[0]  # the folder itself is a table: it is meant, whatever its space
    else:
        folder, origin = _pick(candidates, spec, str(path), device or path.name)
    return ResolvedTable(LatencyTable.load(folder), folder, origin)


__all__ = ["ResolvedTable", "available_devices", "default_space", "resolve_table", "save_calibration",
           "save_validation_record"]


def table_of_options(device: str | None, table: str | os.PathLike | None, spec: FamilySpec | None) -> LatencyTable:
    """The table of `latency predict`, `lut show` and `lut export`'s `--device` / `--table` / space:
    a `--table` given wins over `--device` (which defaults to cpu there and would mislabel
    official YAML tables)."""
    return resolve_table(device if table is None else None, table, spec).table
