"""Append-only row files (latency tables, accuracy datasets): what is safely on disk.

Long runs append one line per result and flush it, so an interruption can leave at most one
half-written last line. Readers keep everything up to the last newline; on resume the half line
is cut off the file itself before new rows are appended after it.
"""

from __future__ import annotations

from pathlib import Path


def complete_lines(path: Path, repair: bool = False) -> tuple[bytes, bool]:
    """(the file's bytes up to its last newline, whether a half-written tail followed); with
    `repair`, that tail is also cut off on disk. A missing file reads as empty."""
    path = Path(path)
    if not path.exists():
        return b"", False
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    partial = end != len(data)
    if partial and repair:
        with open(path, "r+b") as f:
            f.truncate(end)
    return data[:end], partial
