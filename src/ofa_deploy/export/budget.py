"""A subnet that `search --verify` measured over its budget is not exported by mistake.

Why: the promise of a search is "this subnet runs within the budget on that device". A verified
search that found no subnet within the budget keeps its subnet file (the rounds, for inspection)
but exits 1 and does not make it the export default; exporting that file by name then needs an
explicit `--over-budget`, and the export report records the measurement that was over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import OptionError


def over_budget(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the subnet file records of a verification that measured it over its budget, else None."""
    v = (meta or {}).get("verified")
    if not isinstance(v, dict) or v.get("met") is not False:
        return None
    table = (meta or {}).get("latency_table")
    device = table.get("device") if isinstance(table, dict) else None
    return {"budget_ms": v.get("budget_ms"), "measured_ms": v.get("measured_ms"),
            "achievable_ms": v.get("achievable_ms"), "device": device}


def check_over_budget(meta: dict[str, Any] | None, path: Path, allowed: bool) -> dict[str, Any] | None:
    """Refuse (`OptionError`) a subnet measured over its budget unless `allowed` (`--over-budget`);
    returns the record to put in the export report (None for a subnet within its budget)."""
    rec = over_budget(meta)
    if rec is None or allowed:
        return rec
    raise OptionError(f"{path} was measured at {rec['measured_ms']:.3f} ms on {rec['device']}, over its "
                      f"{rec['budget_ms']:.3f} ms budget (search --verify): search again with a budget the device "
                      "meets, or export it anyway with --over-budget (the report will say so)")


def warning(rec: dict[str, Any]) -> str:
    return (f"exported with --over-budget: the subnet was measured at {rec['measured_ms']:.3f} ms on "
            f"{rec['device']}, over its {rec['budget_ms']:.3f} ms budget")


__all__ = ["check_over_budget", "over_budget", "warning"]
