"""`LatencyTable`: measured (or imported) per-block latencies of one device, and the OFA predictor.

OFA predicts a subnet's latency as the sum of its layers' table entries (Cai et al., ICLR 2020).
The search evaluates that sum for hundreds of thousands of archs, so `predict` works on an
`ArchBatch` of integer arrays: the table is turned once into a dense array indexed by
(resolution, block slot, kernel index, expand index) plus the fixed layers per resolution, and a
prediction is one gather and one sum, with no torch and no per-arch Python objects.

On disk a table is a folder (`<tables>/<device>/<space tag>/`; `latency.resolve` says which) holding `table.csv` (one row
per key and resolution, append-only so that an interrupted profile keeps what it measured) and
`meta.yaml` (device, runtime, protocol, spec, calibration; written atomically). Both are plain text
and diff-friendly. The official per-resolution YAML tables can be imported and exported.
Their storage lives beside this module: `latency.rows` (`table.csv`, a `rowfile.RowStore`),
`latency.meta` (`meta.yaml`, calibration) and `latency.official` (the official YAML); the names
they define are re-exported here, where callers have always imported them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LatencyTableError, SpaceError
from ..fsio import atomic_write_text, writer_lock
from ..paths import user_tables_dir
from ..space import FamilyArch, FamilyBatch, FamilySpec, family_of, spec_from_dict
from .blocks import arch_keys, key_scheme, resolution_keys
from .meta import (
    FORMAT,
    META_FILE,
    _check_calibration,
    apply_calibration,
    read_metadata,
    store_calibration,
    store_metadata,
    write_metadata,
)
from .official import OFFICIAL_NAME, export_official, official_metadata, official_resolution, read_official
from .rows import (
    COLUMNS,
    LEGACY_COLUMNS,
    METHODS,
    STATS,
    TABLE_FILE,
    Row,
    RowWriter,
    check_row,
    check_unique,
    duplicate_rows,
    read_rows,
    read_rows_tail,
    rows_csv,
)


# ---- locations ------------------------------------------------------------------------------
def space_tag(spec: FamilySpec) -> str:
    """Short folder name of a space, e.g. `w1.0_c10` or `w0.5_c10_in1_r24-32` (defaults omitted;
    its family's naming: `space.family`)."""
    return family_of(spec).tag(spec)


def default_table_dir(device: str, spec: FamilySpec, precision: str = "fp32") -> Path:
    """Where a table this user makes (profile, import, calibrated copy) goes: user data, never the
    install tree (`paths.user_tables_dir()/<device>/<space tag>`; an int8 table beside it in
    `<space tag>-int8`, so both precisions of a device coexist)."""
    return user_tables_dir() / device / (space_tag(spec) + ("" if precision == "fp32" else f"-{precision}"))


def profile_command(device: str, spec: FamilySpec | None, resolutions: Iterable[int], precision: str = "fp32") -> str:
    """The command that measures the given resolutions of a space on a device (for error messages)."""
    rs = ",".join(str(int(r)) for r in sorted(set(resolutions)))
    space = family_of(spec).profile_options(spec) if spec is not None else ""
    return (f"ofa-deploy profile --device {device}{space} --resolutions {rs}"
            + ("" if precision == "fp32" else f" --precision {precision}"))


# ---- the table ------------------------------------------------------------------------------
class LatencyTable:
    """Rows (key, resolution, count, mean, median, std, p10, p90 ms) + metadata + a vectorised predictor.

    `metadata` holds at least `device`, `spec` (the space as a dict) and `stat` (which statistic
    predictions use: `median` for tables we measure, `mean` for imported official ones), and
    `calibration` (null, or a fitted correction `predict(calibrated=True)` applies).
    """

    def __init__(self, spec: FamilySpec, rows: Iterable[Row], metadata: dict[str, Any]):
        self._spec = spec
        self.metadata: dict[str, Any] = dict(metadata)
        self.metadata["spec"] = spec.to_dict()
        self.metadata.setdefault("device", "unknown")
        self.metadata.setdefault("stat", "median")
        self.metadata.setdefault("calibration", None)
        if self.metadata["stat"] not in STATS:
            raise LatencyTableError(f"table statistic {self.metadata['stat']!r} is not one of {list(STATS)}")
        self._rows: dict[tuple[int, str], Row] = {}
        stat = self.metadata["stat"]
        for row in rows:
            if math.isnan(row.value(stat)):
                raise LatencyTableError(f"row {row.key} at resolution {row.resolution} has no {stat}, the "
                                        "statistic this table predicts with; re-measure the table")
            self.add(row)
        self._cache: Any = None  # the key scheme's dense predictor (`KeyScheme.dense`)

    # ---- basic access ---------------------------------------------------------------------
    @property
    def spec(self) -> FamilySpec:
        return self._spec

    @property
    def device(self) -> str:
        return str(self.metadata["device"])

    @property
    def stat(self) -> str:
        return str(self.metadata["stat"])

    @property
    def precision(self) -> str:
        """What the rows time: fp32 (tables without the field: imported, older) or int8."""
        return str(self.metadata.get("precision") or "fp32")

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Resolutions that have at least one row (complete or not: see `missing_keys`)."""
        return tuple(sorted({r for r, _ in self._rows}))

    @property
    def rows(self) -> list[Row]:
        return sorted(self._rows.values(), key=lambda x: (x.resolution, x.key))

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, item: tuple[str, int]) -> bool:
        key, r = item
        return (int(r), key) in self._rows

    def add(self, row: Row) -> None:
        k = (int(row.resolution), row.key)
        if k in self._rows:
            raise LatencyTableError(f"duplicate table row for {row.key} at resolution {row.resolution}")
        self._rows[k] = row
        self._cache = None

    def get(self, key: str, resolution: int) -> Row:
        try:
            return self._rows[(int(resolution), key)]
        except KeyError:
            raise LatencyTableError(self._missing_message(key, int(resolution))) from None

    def lookup(self, key: str, resolution: int) -> float:
        return self.get(key, resolution).value(self.stat)

    def value_or_nan(self, key: str, r: int) -> float:
        """The prediction statistic of a row, NaN where the table lacks it (dense predictors' input)."""
        row = self._rows.get((int(r), key))
        return row.value(self.stat) if row is not None else math.nan

    def no_resolution_error(self, bad: Sequence[int]) -> LatencyTableError:
        """The error for archs at resolutions (sorted) the table lacks, with the command that measures them."""
        return LatencyTableError(
            f"latency table of device {self.device!r} has no resolution {bad[0]}"
            f"{' (nor ' + ', '.join(map(str, bad[1:6])) + ')' if len(bad) > 1 else ''}; it has "
            f"{list(self.resolutions) or 'none'}; measure it with "
            f"`{profile_command(self.device, self.spec, bad)}`"
        )

    def missing_row_error(self, arch: Any) -> LatencyTableError:
        """The error for an arch whose block sum met a missing row: the first key it lacks."""
        for key in arch_keys(self.spec, arch):
            if (key, arch.r) not in self:
                return LatencyTableError(self._missing_message(key, arch.r))
        return LatencyTableError("latency table holds NaN values; re-measure it")  # pragma: no cover

    def _missing_message(self, key: str, r: int) -> str:
        return (
            f"latency table of device {self.device!r} has no entry {key} at resolution {r}; "
            f"measure it with `{profile_command(self.device, self.spec, [r])}`"
        )

    def missing_keys(self, resolutions: Iterable[int] | None = None) -> dict[int, list[str]]:
        """Keys of the space that the table lacks, per resolution (default: the table's resolutions)."""
        rs = self.resolutions if resolutions is None else tuple(int(r) for r in resolutions)
        out = {}
        for r in rs:
            miss = [k for k in resolution_keys(self.spec, r).distinct() if (r, k) not in self._rows]
            if miss:
                out[r] = miss
        return out

    def complete_resolutions(self) -> tuple[int, ...]:
        missing = self.missing_keys()
        return tuple(r for r in self.resolutions if r not in missing)

    # ---- calibration ----------------------------------------------------------------------
    @property
    def calibration(self) -> dict[str, Any] | None:
        return self.metadata.get("calibration")

    def set_calibration(self, calibration: dict[str, Any] | None) -> None:
        if calibration is not None:
            _check_calibration(calibration)
        self.metadata["calibration"] = calibration

    # ---- prediction -----------------------------------------------------------------------
    def predict(self, batch: FamilyBatch, calibrated: bool = True) -> np.ndarray:
        """Latency in ms of every arch of `batch`, shape (N,).

        The block sum of the table; with `calibrated=True` and a stored calibration, corrected by
        it (`a * sum + b` for a linear one). Raises `LatencyTableError` naming the first key or
        resolution the table lacks, with the command that would measure it.
        """
        raw = self._dense().block_sum(self, batch)
        if calibrated and self.calibration is not None:
            return apply_calibration(self.calibration, raw)
        return raw

    def predict_arch(self, arch: FamilyArch, calibrated: bool = True) -> float:
        batch = family_of(self.spec).batch_of([arch])
        return float(self.predict(batch, calibrated)[0])

    def arch_breakdown(self, arch: FamilyArch) -> list[tuple[str, float]]:
        """(key, ms) of every layer of one subnet, in module order (the slow, explicit path)."""
        return [(k, self.lookup(k, arch.r)) for k in arch_keys(self.spec, arch)]

    def _dense(self) -> Any:
        if self._cache is None:
            self._cache = key_scheme(self.spec).dense(self)
        return self._cache

    # ---- files ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write `table.csv` and `meta.yaml` into folder `path` (both atomically)."""
        folder = Path(path)
        with writer_lock(folder, "latency table"):
            atomic_write_text(folder / TABLE_FILE, rows_csv(self.rows))
            write_metadata(folder, self.metadata)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike) -> LatencyTable:
        """Read a table folder. Which folder a device name or a device folder means (by space, the
        user's before the shipped one) is `latency.resolve`'s job."""
        folder = Path(path)
        if not (folder / META_FILE).exists():
            raise LatencyTableError(f"{folder}: holds no latency table ({META_FILE} + {TABLE_FILE})"
                                    if folder.is_dir() else f"{folder}: no such latency table folder")
        meta = read_metadata(folder)
        try:
            tspec = spec_from_dict(meta["spec"])
        except (KeyError, SpaceError) as e:
            raise LatencyTableError(f"{folder / META_FILE}: invalid or missing 'spec' ({e})") from None
        rows = read_rows(folder / TABLE_FILE)
        check_unique(rows, folder)
        try:
            return cls(tspec, rows, meta)
        except LatencyTableError as e:
            raise LatencyTableError(f"{folder}: {e}") from None

    def summary(self) -> dict[str, Any]:
        missing = self.missing_keys()
        return {
            "device": self.device,
            "space": self.spec.describe(),
            "rows": len(self),
            "resolutions": list(self.resolutions),
            "incomplete": {r: len(v) for r, v in missing.items()},
            "stat": self.stat,
            "precision": self.precision,
            "calibration": self.calibration,
            "methods": {m: n for m in METHODS if (n := sum(row.method == m for row in self._rows.values()))},
        }


# ---- official YAML ----------------------------------------------------------------------------
def import_official(yaml_paths: Sequence[str | os.PathLike], spec: FamilySpec, device: str = "note10",
                    source: str | None = None) -> LatencyTable:
    """Read the official per-resolution tables (`<r>_lookup_table.yaml`, values `{count, mean, std}`).

    Every key the space needs at each resolution must be present; the statistic is `mean`, as the
    official predictor uses it (`latency.official`).
    """
    return LatencyTable(spec, read_official(yaml_paths, spec), official_metadata(yaml_paths, device, source))


__all__ = [
    "COLUMNS", "FORMAT", "LEGACY_COLUMNS", "META_FILE", "METHODS", "OFFICIAL_NAME", "STATS", "TABLE_FILE",
    "LatencyTable", "Row", "RowWriter", "apply_calibration", "check_row", "check_unique", "default_table_dir",
    "duplicate_rows", "export_official", "import_official", "official_resolution", "profile_command",
    "read_metadata", "read_rows", "read_rows_tail", "rows_csv", "space_tag", "store_calibration",
    "store_metadata", "write_metadata",
]
