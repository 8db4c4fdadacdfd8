"""Append-only row files (latency tables, accuracy datasets, training logs): what is safely on disk.

Long runs append one line per result and flush it, so an interruption (a kill, a full disk) can
leave at most one half-written last line: the *torn tail*. This module is the one place that
decides what a reader does with it (`read_complete`):

- ``"skip"``: read the complete lines only and leave the file alone. What every reader that does
  not hold the folder's writer lock does (a check before a resume, a dataset loaded for fitting):
  a torn tail never blocks anything.
- ``"cut"``: also cut the tail off the file, so that new rows are appended after a newline. Only
  for a writer that holds the folder's lock (a resume, `lut repair`, `predictor repair`).
- ``"error"``: a reader that needs the whole file (a finished latency table used by `search`)
  is told; the caller phrases the message (`TornTail` carries the tail).

`RowStore` is the one append-only CSV row file with a key, used by latency tables
(`latency/rows.py`: `table.csv`, `isolated.csv`) and accuracy datasets (`predictor/datafile.py`:
`rows.csv`). A `RowFormat` says how one kind of file spells its rows (its headers, a parser and a
formatter per row, the key that makes two rows the same entry, its own error messages); the store
does the rest the same way for every kind: reading with the torn tail handled by `read_complete`,
finding duplicates (what two writers at once leave), repair (keep the first row of every key,
rewritten atomically under the folder's writer lock), and the locked append (`RowAppender`: holds
the folder's writer lock, `fsio.append_text` per row, so a full disk cuts the row back off).
Lines are CSV as Python's `csv` module reads and writes them (fields holding no comma, quote or
newline are written as they are, so hand-written files of plain fields read the same).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, NamedTuple, TypeVar

from .fsio import WriterLock, append_text, atomic_write_text, no_space, writer_lock

Torn = Literal["skip", "cut", "error"]


class Complete(NamedTuple):
    data: bytes  # the file up to its last newline
    torn: bytes  # the half-written tail after it (b"" when the file ends with a newline)


class TornTail(Exception):
    """Raised by `read_complete(..., torn="error")`; callers turn it into their own typed error."""

    def __init__(self, path: Path, tail: bytes):
        super().__init__(f"{path}: the last line is half-written ({len(tail)} bytes)")
        self.path, self.tail = path, tail


def read_complete(path: str | Path, torn: Torn = "skip") -> Complete:
    """The complete lines of `path` and its torn tail, handled as `torn` says (module docstring).
    A missing file reads as empty."""
    path = Path(path)
    if not path.exists():
        return Complete(b"", b"")
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    tail = data[end:]
    if tail and torn == "error":
        raise TornTail(path, tail)
    if tail and torn == "cut":
        with open(path, "r+b") as f:
            f.truncate(end)
    return Complete(data[:end], tail)


def complete_lines(path: Path, repair: bool = False) -> tuple[bytes, bool]:
    """(the file's bytes up to its last newline, whether a half-written tail followed); with
    `repair`, that tail is also cut off on disk. A missing file reads as empty."""
    data, tail = read_complete(path, "cut" if repair else "skip")
    return data, bool(tail)


def describe_tail(tail: bytes, limit: int = 60) -> str:
    """A torn tail as said in a message: its size and its start."""
    text = tail.decode("utf-8", errors="replace")
    return f"{len(tail)} bytes ({text[:limit]!r}{'...' if len(text) > limit else ''})"


# ---- the row store ----------------------------------------------------------------------------
R = TypeVar("R")
Header = tuple[str, ...]


def csv_line(fields: Sequence[str]) -> str:
    """One CSV line with its newline (`\\n`), as every row file is written."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


@dataclass(frozen=True)
class RowFormat(Generic[R]):
    """How one kind of row file spells its rows.

    `headers`: the headers a reader accepts, the first being the one new (and repaired) files get;
    an older one is kept by appenders (rows are written in the file's own columns). `key`: rows
    with equal keys are the same entry (a second one is a duplicate). `parse(fields, header, path,
    line)`: a row, None to pass over the line, or the kind's own error. `format(row, header)`: the
    fields of a row in the given header's columns. `bad_header(path, header, raw_line)`: the error
    for a file whose header is none of `headers`."""

    headers: tuple[Header, ...]
    key: Callable[[R], Hashable]
    parse: Callable[[list[str], Header, Path, int], R | None]
    format: Callable[[R, Header], Sequence[str]]
    bad_header: Callable[[Path, Header, str], Exception]

    @property
    def header(self) -> Header:
        return self.headers[0]


@dataclass
class Repair(Generic[R]):
    """What `RowStore.repair` did: the rows kept (the first of every key, in file order), how many
    repeats equal to their first were dropped, the (kept, dropped) pairs that differ, and the torn
    tail cut off the file (b"" if none)."""

    kept: list[R]
    identical: int = 0
    conflicts: list[tuple[R, R]] = field(default_factory=list)
    torn: bytes = b""

    @property
    def changed(self) -> bool:
        return bool(self.identical or self.conflicts)


def duplicates(rows: Iterable[R], key: Callable[[R], Hashable]) -> list[R]:
    """Rows whose `key` came earlier in `rows`."""
    seen: set[Hashable] = set()
    dups = []
    for row in rows:
        k = key(row)
        if k in seen:
            dups.append(row)
        seen.add(k)
    return dups


class RowStore(Generic[R]):
    """One append-only row file (`path`) of a folder whose writers take its lock (`what` names the
    folder in the lock's message: "latency table", "accuracy dataset"). See the module docstring."""

    def __init__(self, path: str | os.PathLike, fmt: RowFormat[R], what: str = "folder"):
        self.path, self.fmt, self.what = Path(path), fmt, what

    # ---- text -----------------------------------------------------------------------------
    def parse(self, text: str) -> list[R]:
        """The rows of a file's complete lines (header first); [] for an empty text."""
        if not text:
            return []
        records = csv.reader(io.StringIO(text))
        header = tuple(next(records, ()))
        if header not in self.fmt.headers:
            raise self.fmt.bad_header(self.path, header, text.splitlines()[0])
        rows = []
        for n, fields in enumerate(records, start=2):
            row = self.fmt.parse(fields, header, self.path, n)
            if row is not None:
                rows.append(row)
        return rows

    def line(self, row: R, header: Header | None = None) -> str:
        """One row's line (with its newline), in `header`'s columns (default: the current header)."""
        return csv_line(self.fmt.format(row, header or self.fmt.header))

    def text(self, rows: Iterable[R]) -> str:
        """A whole file of `rows`: the current header, then one line per row."""
        return csv_line(self.fmt.header) + "".join(self.line(row) for row in rows)

    # ---- reading ----------------------------------------------------------------------------
    def read(self, torn: Torn = "skip") -> tuple[list[R], bytes]:
        """(rows of the complete lines, the torn tail): `torn` as in `read_complete` (`TornTail` for
        "error"); an undecodable file raises `UnicodeDecodeError`, a missing one reads as empty."""
        raw, tail = read_complete(self.path, torn)
        return self.parse(raw.decode("utf-8")), tail

    def file_header(self) -> Header | None:
        """The header of the file on disk (None when absent or empty)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        with open(self.path, newline="") as f:
            return tuple(next(csv.reader(f), []))

    # ---- duplicates and repair --------------------------------------------------------------
    def duplicates(self, rows: Iterable[R]) -> list[R]:
        """Rows whose key came earlier in `rows` (what two writers at once leave behind)."""
        return duplicates(rows, self.fmt.key)

    def repair(self, same: Callable[[R, R], bool]) -> Repair[R]:
        """Keep the first row of every key, under the folder's writer lock: the torn tail is cut off,
        a repeat for which `same(first, repeat)` holds is dropped as identical, any other is dropped
        and reported as a conflict (nothing is averaged). The file is rewritten (atomically, in the
        current header) only when a repeat was dropped."""
        with writer_lock(self.path.parent, self.what):
            rows, torn = self.read("cut")
            first: dict[Hashable, R] = {}
            result: Repair[R] = Repair([], torn=torn)
            for row in rows:
                k = self.fmt.key(row)
                if k not in first:
                    first[k] = row
                elif same(first[k], row):
                    result.identical += 1
                else:
                    result.conflicts.append((first[k], row))
            result.kept = list(first.values())
            if result.changed:
                atomic_write_text(self.path, self.text(result.kept))
        return result

    # ---- appending --------------------------------------------------------------------------
    def appender(self, fsync: bool = False) -> RowAppender[R]:
        """A `RowAppender` (close it, e.g. with `contextlib.closing`)."""
        return RowAppender(self, fsync)


class RowAppender(Generic[R]):
    """Appends rows one line at a time, each written through to the file (`fsio.append_text`; with
    `fsync`, also synced), while holding the folder's writer lock (re-entrant: a run that holds it
    already keeps it). A new or empty file first gets the current header (atomically); a file begun
    in an older header accepted by the format is continued in its own columns."""

    def __init__(self, store: RowStore[R], fsync: bool = False):
        self.store, self.path, self.fsync = store, store.path, fsync
        self._lock: WriterLock | None = writer_lock(self.path.parent, store.what)
        try:
            found = store.file_header()
            if found is None:
                atomic_write_text(self.path, csv_line(store.fmt.header))
            self.header = found if found in store.fmt.headers else store.fmt.header
            with no_space(self.path):
                self._f = open(self.path, "a", newline="")  # noqa: SIM115 (kept open across writes; see close)
        except BaseException:
            self._release()
            raise

    def write(self, row: R) -> None:
        """One row, on disk when this returns; a full disk cuts it back off (`NoSpaceError`)."""
        append_text(self._f, self.store.line(row, self.header), self.path, fsync=self.fsync)

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            self._release()

    def _release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
