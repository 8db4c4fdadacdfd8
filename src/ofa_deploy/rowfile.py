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
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

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
