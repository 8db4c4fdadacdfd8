"""What `lut repair` and `predictor repair` did to a row file (the library's repair results): the
torn last row cut off, the repeated rows dropped, the conflicting ones; or the JSON document."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from .console import console, print_json


def _repaired(r: Any, conflicts: Any, as_json: bool, nothing: str, out: Console) -> bool:
    """The JSON document, else the torn last row cut off and `nothing` when no row was dropped.
    True when the caller still has to say which rows were dropped."""
    if as_json:
        print_json({"folder": str(r.folder), "kept": r.kept, "identical": r.identical, "conflicts": conflicts,
                    "torn_tail": r.torn.decode("utf-8", errors="replace")})
        return False
    if r.torn:
        from rich.markup import escape

        from ..rowfile import describe_tail

        out.print(escape(f"{r.folder}: dropped a half-written last row: {describe_tail(r.torn)}"))
    if r.identical or r.conflicts:
        return True
    if not r.torn:
        out.print(f"{r.folder}: {r.kept} rows, {nothing}; nothing to repair")
    return False


def table_repaired(r: Any, as_json: bool, out: Console = console) -> None:
    """`lut repair`: `r` is `latency.repair.repair_table`'s result."""
    conflicts = [{"key": a.key, "resolution": a.resolution, "kept_mean": a.mean, "dropped_mean": b.mean}
                 for a, b in r.conflicts]
    if not _repaired(r, conflicts, as_json, "no duplicates", out):
        return
    out.print(f"{r.folder}: kept {r.kept} unique rows; dropped {r.identical} identical duplicate(s)"
              + (f" and {len(r.conflicts)} conflicting one(s) (the first measurement of each key is kept)"
                 if r.conflicts else ""))
    for first, later in r.conflicts[:10]:
        out.print(f"  [yellow]conflict[/] {first.key} r={first.resolution}: kept mean {first.mean:.4f} ms, "
                  f"dropped {later.mean:.4f} ms")


def dataset_repaired(r: Any, as_json: bool, out: Console = console) -> None:
    """`predictor repair`: `r` is `predictor.dataset.repair_dataset`'s result."""
    if not _repaired(r, r.conflicts, as_json, "no repeated subnets", out):
        return
    out.print(f"{r.folder}: kept {r.kept} unique rows; dropped {r.identical} identical repeat(s)"
              + (f" and {len(r.conflicts)} conflicting one(s) (first measurement kept: index "
                 f"{', '.join(map(str, r.conflicts[:10]))})" if r.conflicts else ""))
