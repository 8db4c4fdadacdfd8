"""`lut repair`: make a table whose rows repeat keys readable again, losing no measurement.

Why it exists: before tables were locked, two `profile` runs on one folder both appended every
key, and readers now refuse such a table (a key measured twice has no single latency). Repair
keeps every unique row in file order; a repeated row equal to the first is dropped, one that
differs (the same key measured twice) keeps the first and is reported, so nothing is averaged
behind the user's back. A half-written last line is dropped too. The file is rewritten atomically
under the table's writer lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LatencyTableError
from ..fsio import writer_lock
from .meta import META_FILE, read_metadata
from .rows import TABLE_FILE, Row, row_store, table_errors


@dataclass
class TableRepair:
    folder: Path
    kept: int
    identical: int  # repeated rows equal to the first, dropped
    conflicts: list[tuple[Row, Row]] = field(default_factory=list)  # (kept first, dropped later) pairs
    torn: bytes = b""  # the half-written last line cut off the file (b"" if there was none)

    @property
    def changed(self) -> bool:
        return bool(self.identical or self.conflicts or self.torn)


def _same(first: Row, later: Row) -> bool:
    return first.to_csv() == later.to_csv()  # text, so that NaN fields compare equal


def repair_table(folder: str | os.PathLike) -> TableRepair:
    """Drop repeated rows of `folder/table.csv` (keep the first of each key); see the module docstring."""
    folder = Path(folder)
    if not (folder / META_FILE).exists():
        raise LatencyTableError(f"{folder}: no {META_FILE}; `lut repair` repairs a table folder (table.csv + "
                                f"{META_FILE})")
    with writer_lock(folder, "latency table"):
        read_metadata(folder)  # refuses a corrupt or foreign meta.yaml
        path = folder / TABLE_FILE
        with table_errors(path):
            r = row_store(path).repair(_same)
    return TableRepair(folder, len(r.kept), r.identical, r.conflicts, r.torn)


__all__ = ["TableRepair", "repair_table"]
