"""Output helpers that several commands share: the table style, the report of a repaired row file."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from .common import console, print_json


def rich_table(title: str, columns: Iterable[str], right: Container[str] | None = None) -> Any:
    """The one table style: a rich Table titled at the left, the `right` columns right-justified
    (None: all but the first)."""
    from rich.table import Table

    columns = list(columns)
    right = columns[1:] if right is None else right
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left")
    return t


def print_repair(r: Any, conflicts: Any, as_json: bool, nothing: str) -> bool:
    """What `lut repair` / `predictor repair` did (`r`: the library's repair result): the JSON document,
    else the torn last row cut off and `nothing` when no row was dropped. True when the command
    still has to say which rows it dropped."""
    if as_json:
        print_json({"folder": str(r.folder), "kept": r.kept, "identical": r.identical, "conflicts": conflicts,
                    "torn_tail": r.torn.decode("utf-8", errors="replace")})
        return False
    if r.torn:
        from rich.markup import escape

        from ..rowfile import describe_tail

        console.print(escape(f"{r.folder}: dropped a half-written last row: {describe_tail(r.torn)}"))
    if r.identical or r.conflicts:
        return True
    if not r.torn:
        console.print(f"{r.folder}: {r.kept} rows, {nothing}; nothing to repair")
    return False
