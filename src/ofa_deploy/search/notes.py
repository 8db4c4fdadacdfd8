"""What a search's output should say about its own budget and table, in one line each.

A budget above the largest subnet's cost binds nothing (every subnet meets it, the search returns
the most accurate subnet of the space); a table that covers fewer resolutions than the space limits
the search to those, which nobody asked for. Both are facts of the problem, computed here once and
printed by the command (and readable by scripts through `budget_notes`). Nothing here changes the
search itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _fmt(objective: str, value: float) -> str:
    from ..units import format_count

    return f"{value:.3g} ms" if objective == "latency" else format_count(float(f"{value:.3g}"))


def budget_notes(problem: Any, results: Sequence[Any]) -> list[str]:
    """One note per budget that lies above the largest subnet's cost (it binds nothing)."""
    out: list[str] = []
    field = {"latency": "latency_ms", "flops": "flops", "params": "params"}
    for objective in ("latency", "flops", "params"):
        if objective not in problem.objectives:
            continue
        largest = float(problem.costs(problem._largest_genes(), (objective,))[0, 0])
        seen: set[float] = set()
        for r in results:
            limit = getattr(r.budget, field[objective], None)
            if limit is None or limit in seen or limit <= largest * 1.01:  # rounding (3 digits) is not a note
                continue
            seen.add(limit)
            out.append(f"the {objective} budget {_fmt(objective, limit)} is above the largest subnet's "
                       f"{_fmt(objective, largest)} ({limit / largest:.1f}x): it binds nothing, every subnet meets it")
    return out


def coverage_note(problem: Any) -> str | None:
    """A note when the search considers fewer resolutions than the space has (the table lacks some)."""
    space = tuple(getattr(problem.spec, "resolutions", ()) or ())
    if not space or problem.table is None:
        return None
    used = tuple(r for r in problem.table.complete_resolutions() if r in space)
    if len(used) >= len(space) or not used:
        return None
    from ..space.spec import _range_text

    return (f"the latency table covers r {_range_text(used)} of the space's r {_range_text(space)}, so the search "
            f"considered only r {_range_text(used)} (a table measured at every resolution widens it: "
            "`ofa-deploy profile --resolutions all`)")


__all__ = ["budget_notes", "coverage_note"]
