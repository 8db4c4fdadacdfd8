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
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import LatencyTableError, SpaceError
from ..fsio import append_text, atomic_write_text, no_space, writer_lock
from ..paths import user_tables_dir
from ..rowfile import Torn, TornTail, read_complete
from ..space import Arch, ArchBatch, SpaceKind, SpaceSpec
from .blocks import arch_keys, own_scheme, resolution_keys

TABLE_FILE = "table.csv"
META_FILE = "meta.yaml"
FORMAT = "ofa-deploy-latency-table"
LEGACY_COLUMNS = ("key", "resolution", "count", "mean", "median", "std", "p10", "p90")  # tables before `method`
COLUMNS = LEGACY_COLUMNS + ("method", "samples")
STATS = ("mean", "median", "std", "p10", "p90")
# How a row's cost was made (`latency.incontext`): the block timed alone; fitted to whole subnets
# timed end to end (`latency.fit`); attributed from per-node profiles of whole subnets.
METHODS = ("isolated", "fit", "profiler")
OFFICIAL_NAME = re.compile(r"(\d+)_lookup_table\.ya?ml$")


@dataclass(frozen=True)
class Row:
    """One table entry: a layer at one resolution, its sample count and statistics in ms.

    `method` says how the cost was made (one of `METHODS`), `samples` how many subnets timed end
    to end support it (0 for a block timed alone, and for rows of tables older than these columns)."""

    key: str
    resolution: int
    count: int
    mean: float
    median: float = math.nan
    std: float = math.nan
    p10: float = math.nan
    p90: float = math.nan
    method: str = "isolated"
    samples: int = 0

    def value(self, stat: str) -> float:
        return float(getattr(self, stat))

    def to_csv(self, columns: Sequence[str] = COLUMNS) -> list[str]:
        out = [self.key, str(self.resolution), str(self.count)] + [_fmt(getattr(self, s)) for s in STATS]
        return out + [self.method, str(self.samples)] if len(columns) > len(LEGACY_COLUMNS) else out


def _fmt(x: float) -> str:
    return "" if x is None or math.isnan(x) else repr(float(x))


# ---- locations ------------------------------------------------------------------------------
def space_tag(spec: SpaceSpec) -> str:
    """Short folder name of a space, e.g. `w1.0_c10` or `w0.5_c10_in1_r24-32` (defaults omitted)."""
    if not isinstance(spec.kind_info, SpaceKind):  # a family of its own (ResNet50) names its spaces
        return spec.kind_info.tag(spec)
    ref = SpaceSpec()
    w = f"{spec.width_mult:.1f}" if round(spec.width_mult, 1) == spec.width_mult else f"{spec.width_mult:g}"
    prefix = spec.kind_info.tag_prefix
    parts = ([prefix] if prefix else []) + [f"w{w}", f"c{spec.n_classes}"]
    if spec.in_channels != 3:
        parts.append(f"in{spec.in_channels}")
    for name, short in (("ks_list", "k"), ("expand_list", "e"), ("depth_list", "d")):
        if getattr(spec, name) != getattr(ref, name):
            parts.append(short + "".join(str(v) for v in getattr(spec, name)))
    return "_".join(parts)


def default_table_dir(device: str, spec: SpaceSpec, precision: str = "fp32") -> Path:
    """Where a table this user makes (profile, import, calibrated copy) goes: user data, never the
    install tree (`paths.user_tables_dir()/<device>/<space tag>`; an int8 table beside it in
    `<space tag>-int8`, so both precisions of a device coexist)."""
    return user_tables_dir() / device / (space_tag(spec) + ("" if precision == "fp32" else f"-{precision}"))


def profile_command(device: str, spec: SpaceSpec | None, resolutions: Iterable[int], precision: str = "fp32") -> str:
    """The command that measures the given resolutions of a space on a device (for error messages)."""
    rs = ",".join(str(int(r)) for r in sorted(set(resolutions)))
    space = ""
    if spec is not None and not isinstance(spec.kind_info, SpaceKind):
        space = " --supernet SUPERNET.pt"  # such a space is profiled from its checkpoint
    elif spec is not None:
        space = f" --width {spec.width_mult:g} --classes {spec.n_classes}"
        if spec.in_channels != 3:
            space += f" --in-channels {spec.in_channels}"
    return (f"ofa-deploy profile --device {device}{space} --resolutions {rs}"
            + ("" if precision == "fp32" else f" --precision {precision}"))


# ---- the table ------------------------------------------------------------------------------
class LatencyTable:
    """Rows (key, resolution, count, mean, median, std, p10, p90 ms) + metadata + a vectorised predictor.

    `metadata` holds at least `device`, `spec` (the space as a dict) and `stat` (which statistic
    predictions use: `median` for tables we measure, `mean` for imported official ones), and
    `calibration` (null, or a fitted correction `predict(calibrated=True)` applies).
    """

    def __init__(self, spec: SpaceSpec, rows: Iterable[Row], metadata: dict[str, Any]):
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
        self._cache: _Dense | None = None

    # ---- basic access ---------------------------------------------------------------------
    @property
    def spec(self) -> SpaceSpec:
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
    def predict(self, batch: ArchBatch, calibrated: bool = True) -> np.ndarray:
        """Latency in ms of every arch of `batch`, shape (N,).

        The block sum of the table; with `calibrated=True` and a stored calibration, corrected by
        it (`a * sum + b` for a linear one). Raises `LatencyTableError` naming the first key or
        resolution the table lacks, with the command that would measure it.
        """
        raw = self._dense().block_sum(self, batch)
        if calibrated and self.calibration is not None:
            return apply_calibration(self.calibration, raw)
        return raw

    def predict_arch(self, arch: Arch, calibrated: bool = True) -> float:
        scheme = own_scheme(self.spec)
        batch = ArchBatch.from_archs([arch]) if scheme is None else scheme.batch_of([arch])
        return float(self.predict(batch, calibrated)[0])

    def arch_breakdown(self, arch: Arch) -> list[tuple[str, float]]:
        """(key, ms) of every layer of one subnet, in module order (the slow, explicit path)."""
        return [(k, self.lookup(k, arch.r)) for k in arch_keys(self.spec, arch)]

    def _dense(self) -> _Dense:
        if self._cache is None:
            scheme = own_scheme(self.spec)
            self._cache = _Dense.build(self) if scheme is None else _OwnDense(self, scheme)  # type: ignore[assignment]
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
            tspec = SpaceSpec.from_dict(meta["spec"])
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


# ---- dense predictor --------------------------------------------------------------------------
@dataclass
class _Dense:
    rmap: np.ndarray     # resolution -> row index, -1 where absent
    block: np.ndarray    # (R * n_blocks * nk * ne,) ms, NaN where missing
    fixed: np.ndarray    # (R,) ms, NaN where a fixed layer is missing
    nb: int
    nk: int
    ne: int

    @classmethod
    def build(cls, table: LatencyTable) -> _Dense:
        spec, stat = table.spec, table.stat
        rs = table.resolutions
        nb, nk, ne = spec.n_blocks, len(spec.ks_list), len(spec.expand_list)
        rmap = np.full(max(rs, default=0) + 1, -1, dtype=np.int64)
        block = np.full((len(rs), nb, nk, ne), np.nan)
        fixed = np.zeros(len(rs))
        for ri, r in enumerate(rs):
            rmap[r] = ri
            rk = resolution_keys(spec, r)
            for k in rk.fixed:
                row = table._rows.get((r, k))
                fixed[ri] += row.value(stat) if row is not None else np.nan
            for slot in rk.slots:
                for a, keys in enumerate(slot.keys):
                    for b, key in enumerate(keys):
                        row = table._rows.get((r, key))
                        if row is not None:
                            block[ri, slot.slot, a, b] = row.value(stat)
        return cls(rmap, block.reshape(-1), fixed, nb, nk, ne)

    def block_sum(self, table: LatencyTable, batch: ArchBatch) -> np.ndarray:
        spec = table.spec
        if batch.ks.ndim != 2 or batch.ks.shape[1] != self.nb or batch.e.shape != batch.ks.shape:
            raise SpaceError(f"arch batch has ks/e of shape {batch.ks.shape}; this space needs (N, {self.nb})")
        if batch.d.ndim != 2 or batch.d.shape[1] != spec.n_stages:
            raise SpaceError(f"arch batch has d of shape {batch.d.shape}; this space needs (N, {spec.n_stages})")
        if len(batch) == 0:
            return np.zeros(0)
        r = batch.r
        inside = (r >= 0) & (r < len(self.rmap))
        ri = np.where(inside, self.rmap[np.clip(r, 0, len(self.rmap) - 1)], -1)
        if (ri < 0).any():
            bad = sorted(set(r[ri < 0].tolist()))
            raise LatencyTableError(
                f"latency table of device {table.device!r} has no resolution {bad[0]}"
                f"{' (nor ' + ', '.join(map(str, bad[1:6])) + ')' if len(bad) > 1 else ''}; it has "
                f"{list(table.resolutions) or 'none'}; measure it with "
                f"`{profile_command(table.device, spec, bad)}`"
            )
        mask = batch.active_mask(spec)
        kidx, eidx = batch.choice_indices(spec)
        if ((kidx < 0) & mask).any() or ((eidx < 0) & mask).any():
            n = int(np.nonzero((((kidx < 0) | (eidx < 0)) & mask).any(axis=1))[0][0])
            raise SpaceError(f"arch {n} of the batch has a kernel size or expand ratio outside the space "
                             f"(ks {spec.ks_list}, e {spec.expand_list})")
        if not spec.depths_valid(batch.d).all():
            raise SpaceError(f"arch batch has depths outside the space's depths {list(spec.depth_list)}")
        flat = ((ri[:, None] * self.nb + np.arange(self.nb)) * self.nk + np.maximum(kidx, 0)) * self.ne \
            + np.maximum(eidx, 0)
        vals = self.block[flat]
        total = self.fixed[ri] + np.where(mask, vals, 0.0).sum(axis=1)
        if np.isnan(total).any():
            n = int(np.nonzero(np.isnan(total))[0][0])
            arch = batch[n].to_archs()[0]
            for key in arch_keys(spec, arch):
                if (key, arch.r) not in table:
                    raise LatencyTableError(table._missing_message(key, arch.r))
            raise LatencyTableError("latency table holds NaN values; re-measure it")  # pragma: no cover
        return total


class _OwnDense:
    """Block sums for a kind of its own family (ResNet50): its key scheme's dense model over the
    table's rows (NaN where a row is missing, reported like `_Dense` does)."""

    def __init__(self, table: LatencyTable, scheme: Any):
        stat, rows = table.stat, table._rows

        def lookup(key: str, r: int) -> float:
            row = rows.get((r, key))
            return row.value(stat) if row is not None else math.nan

        self.model = scheme.ResNetLatencyModel(table.spec, lookup, list(table.resolutions))

    def block_sum(self, table: LatencyTable, batch: Any) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros(0)
        bad = sorted(set(batch.r.tolist()) - set(table.resolutions))
        if bad:
            raise LatencyTableError(
                f"latency table of device {table.device!r} has no resolution {bad[0]}; it has "
                f"{list(table.resolutions) or 'none'}; measure it with `{profile_command(table.device, table.spec, bad)}`")
        total = self.model.predict(batch)
        if np.isnan(total).any():
            arch = batch[int(np.nonzero(np.isnan(total))[0][0])].to_archs()[0]
            for key in arch_keys(table.spec, arch):
                if (key, arch.r) not in table:
                    raise LatencyTableError(table._missing_message(key, arch.r))
            raise LatencyTableError("latency table holds NaN values; re-measure it")  # pragma: no cover
        return total


# ---- calibration ------------------------------------------------------------------------------
def _check_calibration(cal: dict[str, Any]) -> None:
    if not isinstance(cal, dict) or cal.get("kind") != "linear":
        raise LatencyTableError(f"unknown calibration {cal!r}: only kind 'linear' (ms = a * sum + b) is supported")
    for k in ("a", "b"):
        if not isinstance(cal.get(k), (int, float)) or not math.isfinite(cal[k]):
            raise LatencyTableError(f"linear calibration lacks a finite {k!r}: {cal!r}")


def apply_calibration(cal: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    _check_calibration(cal)
    return float(cal["a"]) * np.asarray(raw, dtype=float) + float(cal["b"])


# ---- file helpers -----------------------------------------------------------------------------
def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    doc = {"format": FORMAT, "version": 1, **metadata}
    atomic_write_text(Path(folder) / META_FILE, yaml.safe_dump(_plain(doc), sort_keys=False, default_flow_style=None))


def store_calibration(folder: str | os.PathLike, calibration: dict[str, Any] | None) -> None:
    """Record a fitted calibration in a table folder's `meta.yaml`, under its writer lock; the file
    is read again first, so that nothing another command wrote meanwhile is lost."""
    if calibration is not None:
        _check_calibration(calibration)
    with writer_lock(folder, "latency table"):
        meta = read_metadata(Path(folder))
        meta["calibration"] = calibration
        write_metadata(Path(folder), meta)


def store_metadata(folder: str | os.PathLike, **updates: Any) -> None:
    """Set top-level `meta.yaml` entries (e.g. `validation`) under the table's writer lock; the file
    is read again first so that nothing another command wrote meanwhile is lost."""
    with writer_lock(folder, "latency table"):
        meta = read_metadata(Path(folder))
        meta.update(updates)
        write_metadata(Path(folder), meta)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def read_metadata(folder: Path) -> dict[str, Any]:
    p = Path(folder) / META_FILE
    if not p.exists():
        raise LatencyTableError(f"{folder}: no {META_FILE}; not a latency table folder (or profiling never started)")
    if not p.is_file():
        raise LatencyTableError(f"{p} is not a file; a table folder holds {META_FILE} and {TABLE_FILE} files")
    try:
        doc = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise LatencyTableError(f"{p}: corrupt metadata ({str(e).splitlines()[0]}); re-run the profile "
                                "or restore the file") from None
    except OSError as e:
        raise LatencyTableError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LatencyTableError(f"{p}: not an ofa-deploy latency table metadata file (format {FORMAT!r})")
    if doc.get("version") != 1:
        raise LatencyTableError(f"{p}: table version {doc.get('version')} is not supported (1)")
    for k in ("device", "spec"):
        if k not in doc:
            raise LatencyTableError(f"{p}: metadata lacks {k!r}")
    doc.pop("format")
    doc.pop("version")
    return doc


def read_rows(path: Path, repair: bool = False, torn: Torn | None = None) -> list[Row]:
    """Parse `table.csv`. A last line without newline is a half-written row (the profiler was
    killed mid-write, or the disk filled): `torn` says what to do with it (`rowfile`): an error by
    default, cut off the file with `repair` (a resume, under the writer lock), or skipped."""
    return read_rows_tail(path, torn or ("cut" if repair else "error"))[0]


def read_rows_tail(path: Path, torn: Torn = "skip") -> tuple[list[Row], bytes]:
    """`read_rows`, also returning the half-written tail that was skipped or cut (b"" if none)."""
    if path.exists() and not path.is_file():
        raise LatencyTableError(f"{path} is not a file; a table folder holds {META_FILE} and {TABLE_FILE} files")
    try:
        raw, tail = read_complete(path, torn)
    except TornTail:
        raise LatencyTableError(
            f"{path}: the last row is half-written (the profiler was interrupted while writing); "
            "re-run the same `ofa-deploy profile` command to drop it and resume"
        ) from None
    except OSError as e:
        raise LatencyTableError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    return _parse_rows(path, raw), tail


def _parse_rows(path: Path, raw: bytes) -> list[Row]:
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise LatencyTableError(f"{path}: not a text file; the table is corrupt, re-run the profile") from None
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return []
    header = tuple(lines[0])
    if header not in (COLUMNS, LEGACY_COLUMNS):
        raise LatencyTableError(f"{path}: header {lines[0]} is not {list(COLUMNS)}; the table is corrupt")
    rows = []
    for n, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            raise LatencyTableError(f"{path}, line {n}: {len(fields)} fields instead of {len(header)}; "
                                    "the table is corrupt")
        try:
            stats = [float(v) if v != "" else math.nan for v in fields[3:8]]
            extra = {"method": fields[8], "samples": int(fields[9])} if len(header) > len(LEGACY_COLUMNS) else {}
            row = Row(fields[0], int(fields[1]), int(fields[2]), *stats, **extra)
        except ValueError:
            raise LatencyTableError(f"{path}, line {n}: non-numeric value in {fields}; the table is corrupt") from None
        check_row(row, f"{path}, line {n}")
        rows.append(row)
    return rows


def duplicate_rows(rows: Iterable[Row]) -> list[Row]:
    """Rows whose (resolution, key) came earlier in `rows` (what two writers at once leave behind)."""
    seen: set[tuple[int, str]] = set()
    dups = []
    for row in rows:
        k = (row.resolution, row.key)
        if k in seen:
            dups.append(row)
        seen.add(k)
    return dups


def check_unique(rows: Sequence[Row], folder: Path) -> None:
    """`LatencyTableError` saying how to repair a table whose rows repeat a key."""
    dups = duplicate_rows(rows)
    if dups:
        raise LatencyTableError(
            f"{Path(folder) / TABLE_FILE} holds {len(dups)} duplicate row(s) (first: {dups[0].key} at resolution "
            f"{dups[0].resolution}), as left by two profiles writing one folder at once; repair it with "
            f"`ofa-deploy lut repair {folder}` (keeps every unique row), then rerun the profile to resume"
        )


def rows_csv(rows: Iterable[Row]) -> str:
    """`table.csv` text of `rows` (header first)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow(row.to_csv())
    return buf.getvalue()


def check_row(row: Row, where: str) -> None:
    """Every statistic of a row is a time: finite and > 0 (the spread `std` >= 0); an absent one is
    NaN, except the mean, which every table has. A zero or negative latency would let a search
    "meet" any budget (a search once returned -125 ms), so such a table is refused on load."""
    for stat in STATS:
        v = getattr(row, stat)
        if math.isnan(v) and stat != "mean":
            continue
        if not (math.isfinite(v) and (v >= 0 if stat == "std" else v > 0)):
            raise LatencyTableError(f"{where}: row {row.key} at resolution {row.resolution} has {stat} {v!r} ms; "
                                    f"a latency must be a finite number > 0: re-measure the table or fix that row")
    if row.count < 0:
        raise LatencyTableError(f"{where}: row {row.key} at resolution {row.resolution} has a negative sample "
                                f"count {row.count}")
    if row.method not in METHODS:
        raise LatencyTableError(f"{where}: row {row.key} at resolution {row.resolution} has method {row.method!r}, "
                                f"not one of {list(METHODS)}; the table is corrupt")
    if row.samples < 0:
        raise LatencyTableError(f"{where}: row {row.key} at resolution {row.resolution} has a negative number of "
                                f"end-to-end samples {row.samples}")


# ---- append-only writer -----------------------------------------------------------------------
class RowWriter:
    """Appends rows to `table.csv` one at a time and flushes each, so that Ctrl-C keeps them.

    Use with `contextlib.closing(RowWriter(folder))`. A table begun before the `method` and
    `samples` columns is continued in its own header's columns (its rows are all `isolated`).
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / TABLE_FILE
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.columns = COLUMNS
        if not new:
            with open(self.path, newline="") as f:
                first = next(csv.reader(f), [])
            self.columns = LEGACY_COLUMNS if tuple(first) == LEGACY_COLUMNS else COLUMNS
        with no_space(self.path):
            self._f = open(self.path, "a", newline="")  # noqa: SIM115 (kept open across writes; see close)
        if new:
            self._append(COLUMNS)

    def _append(self, fields: Sequence[Any]) -> None:
        """One line, flushed; a full disk cuts it back off and says so in one line (`fsio.append_text`)."""
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(fields)
        append_text(self._f, buf.getvalue(), self.path)

    def write(self, row: Row) -> None:
        self._append(row.to_csv(self.columns))

    def close(self) -> None:
        self._f.close()


# ---- official YAML ----------------------------------------------------------------------------
def official_resolution(path: Path, data: dict[str, Any]) -> int:
    m = OFFICIAL_NAME.search(Path(path).name)
    if m:
        return int(m.group(1))
    for k in data:
        if str(k).startswith("Conv-input:"):
            return int(str(k).split(":")[1].split("x")[0])
    raise LatencyTableError(f"{path}: cannot tell the resolution (name it <r>_lookup_table.yaml)")


def import_official(yaml_paths: Sequence[str | os.PathLike], spec: SpaceSpec, device: str = "note10",
                    source: str | None = None) -> LatencyTable:
    """Read the official per-resolution tables (`<r>_lookup_table.yaml`, values `{count, mean, std}`).

    Every key the space needs at each resolution must be present; the statistic is `mean`, as the
    official predictor uses it.
    """
    rows: list[Row] = []
    for p in yaml_paths:
        p = Path(p)
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or (str(e).splitlines() or [type(e).__name__])[0]
            raise LatencyTableError(f"{p}: cannot read as an official lookup table ({why})") from None
        if not isinstance(data, dict) or not data:
            raise LatencyTableError(f"{p}: an official lookup table is a mapping of key -> {{count, mean, std}}")
        r = official_resolution(p, data)
        needed = resolution_keys(spec, r).distinct()
        missing = [k for k in needed if k not in data]
        if missing:
            raise LatencyTableError(
                f"{p}: {len(missing)} of the {len(needed)} keys of the space {spec.describe()} at resolution "
                f"{r} are absent (first: {missing[0]}); is it a table of another space (--kind, --width, --expands)?"
            )
        for key, v in data.items():
            try:
                std = float(v["std"]) if v.get("std") is not None else (
                    math.sqrt(float(v["var"])) if v.get("var") is not None else math.nan)  # ProxylessNAS's: var
                row = Row(str(key), r, int(v.get("count", 0)), float(v["mean"]), std=std)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise LatencyTableError(f"{p}: entry {key} lacks a numeric 'mean'") from None
            check_row(row, str(p))
            rows.append(row)
    meta = {
        "device": device,
        "backend": "official",
        "source": source or "imported official OFA lookup tables",
        "files": [Path(p).name for p in yaml_paths],
        "stat": "mean",
        "calibration": None,
    }
    return LatencyTable(spec, rows, meta)


def export_official(table: LatencyTable, out_dir: str | os.PathLike, stat: str = "mean") -> list[Path]:
    """Write `<r>_lookup_table.yaml` per resolution, in the official form (`mean` holds `stat`)."""
    if stat not in ("mean", "median"):
        raise LatencyTableError(f"export statistic must be 'mean' or 'median', got {stat!r}")
    out = Path(out_dir)
    docs = {}
    for r in table.resolutions:
        doc = {}
        for row in sorted((x for x in table.rows if x.resolution == r), key=lambda x: x.key):
            value = row.value(stat)
            if math.isnan(value):
                raise LatencyTableError(f"row {row.key} at {r} has no {stat}; export with --stat mean")
            entry: dict[str, Any] = {"count": row.count, "mean": value}
            entry["std"] = None if math.isnan(row.std) else row.std
            doc[row.key] = entry
        docs[r] = doc
    created = not out.exists()
    written: list[Path] = []
    try:
        for r, doc in docs.items():
            p = out / f"{r}_lookup_table.yaml"
            atomic_write_text(p, yaml.safe_dump(doc, sort_keys=True))
            written.append(p)
    except BaseException:
        if created:  # a folder this call made holds only what it wrote: leave nothing behind
            for p in written:
                p.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return written
