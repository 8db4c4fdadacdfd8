"""`table.csv` (and the fit's `isolated.csv`): the rows of a latency table on disk.

One row per key and resolution, appended and flushed by the profiler as soon as it is measured,
so an interrupted profile keeps what it measured. The file is a `rowfile.RowStore`; this module
says how its rows are spelt (`Row`, `COLUMNS`; tables begun before the `method` and `samples`
columns keep `LEGACY_COLUMNS`), which rows are valid (`check_row`) and the table's messages.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import LatencyTableError
from ..rowfile import RowAppender, RowFormat, RowStore, Torn, TornTail, duplicates
from .meta import META_FILE

TABLE_FILE = "table.csv"
LEGACY_COLUMNS = ("key", "resolution", "count", "mean", "median", "std", "p10", "p90")  # tables before `method`
COLUMNS = LEGACY_COLUMNS + ("method", "samples")
STATS = ("mean", "median", "std", "p10", "p90")
PREDICTION_STATS = ("median", "p10", "mean")  # what `profile --stat` may make a table predict with
# How a row's cost was made (`latency.incontext`): the block timed alone; fitted to whole subnets
# timed end to end (`latency.fit`); attributed from per-node profiles of whole subnets.
METHODS = ("isolated", "fit", "profiler")


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


# ---- the row format ---------------------------------------------------------------------------
def _parse(fields: list[str], header: tuple[str, ...], path: Path, n: int) -> Row:
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
    return row


def _bad_header(path: Path, header: tuple[str, ...], raw: str) -> Exception:
    return LatencyTableError(f"{path}: header {list(header)} is not {list(COLUMNS)}; the table is corrupt")


ROW_FORMAT: RowFormat[Row] = RowFormat(
    headers=(COLUMNS, LEGACY_COLUMNS),
    key=lambda row: (row.resolution, row.key),
    parse=_parse,
    format=lambda row, header: row.to_csv(header),
    bad_header=_bad_header,
)


def row_store(path: str | Path) -> RowStore[Row]:
    """The `RowStore` of a `table.csv` (or `isolated.csv`) file."""
    return RowStore(path, ROW_FORMAT, "latency table")


# ---- reading ----------------------------------------------------------------------------------
def read_rows(path: Path, repair: bool = False, torn: Torn | None = None) -> list[Row]:
    """Parse `table.csv`. A last line without newline is a half-written row (the profiler was
    killed mid-write, or the disk filled): `torn` says what to do with it (`rowfile`): an error by
    default, cut off the file with `repair` (a resume, under the writer lock), or skipped."""
    return read_rows_tail(path, torn or ("cut" if repair else "error"))[0]


def read_rows_tail(path: Path, torn: Torn = "skip") -> tuple[list[Row], bytes]:
    """`read_rows`, also returning the half-written tail that was skipped or cut (b"" if none)."""
    with table_errors(path):
        return row_store(path).read(torn)


@contextlib.contextmanager
def table_errors(path: Path) -> Iterator[None]:
    """The table's own messages for what reading `path` (a `RowStore`) raises: not a file, a torn
    last row where a whole file is needed, not text, unreadable."""
    if path.exists() and not path.is_file():
        raise LatencyTableError(f"{path} is not a file; a table folder holds {META_FILE} and {TABLE_FILE} files")
    try:
        yield
    except TornTail:
        raise LatencyTableError(
            f"{path}: the last row is half-written (the profiler was interrupted while writing); "
            "re-run the same `ofa-deploy profile` command to drop it and resume"
        ) from None
    except UnicodeDecodeError:
        raise LatencyTableError(f"{path}: not a text file; the table is corrupt, re-run the profile") from None
    except OSError as e:
        raise LatencyTableError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None


def _parse_rows(path: Path, raw: bytes) -> list[Row]:
    """The rows of `table.csv` bytes (complete lines)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise LatencyTableError(f"{path}: not a text file; the table is corrupt, re-run the profile") from None
    return row_store(path).parse(text)


def duplicate_rows(rows: Iterable[Row]) -> list[Row]:
    """Rows whose (resolution, key) came earlier in `rows` (what two writers at once leave behind)."""
    return duplicates(rows, ROW_FORMAT.key)


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
    return row_store(TABLE_FILE).text(rows)


# ---- append-only writer -----------------------------------------------------------------------
class RowWriter(RowAppender[Row]):
    """Appends rows to `table.csv` one at a time and flushes each, so that Ctrl-C keeps them; holds
    the table's writer lock meanwhile (re-entrant: the profile's own lock is kept).

    Use with `contextlib.closing(RowWriter(folder))`. A table begun before the `method` and
    `samples` columns is continued in its own header's columns (its rows are all `isolated`).
    """

    def __init__(self, folder: Path):
        super().__init__(row_store(Path(folder) / TABLE_FILE))

    @property
    def columns(self) -> tuple[str, ...]:
        return self.header


__all__ = ["COLUMNS", "LEGACY_COLUMNS", "METHODS", "ROW_FORMAT", "STATS", "TABLE_FILE", "Row", "RowWriter",
           "check_row", "check_unique", "duplicate_rows", "read_rows", "read_rows_tail", "row_store", "rows_csv"]
