"""One tolerance of a verification (`Limit`) and the check rows it gives (`run_checks`): shared by
`export.verify` (fp32 and int8 limits) and `export.parity` (per-image fp32 parity), which both need it
and must not import each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limit:
    """One tolerance: `metric` must be `bound` ('<=' or '>=') `value`."""

    metric: str
    bound: str
    value: float
    label: str
    unit: str = ""
    fatal: bool = True  # False: a target, reported when missed but not a verification failure

    def holds(self, x: float) -> bool:
        return x <= self.value if self.bound == "<=" else x >= self.value


def run_checks(metrics: dict[str, Any], limits: tuple[Limit, ...]) -> list[dict[str, Any]]:
    """One JSON-ready row per limit; `passed` is None (skipped) when the metric is unavailable."""
    rows = []
    for lim in limits:
        value = metrics.get(lim.metric)
        row = {"metric": lim.metric, "label": lim.label, "bound": lim.bound, "limit": lim.value, "unit": lim.unit,
               "value": value, "passed": None if value is None else bool(lim.holds(value)), "fatal": lim.fatal}
        if value is None:
            row["note"] = "skipped: needs labelled images (give --data)"
        rows.append(row)
    return rows


__all__ = ["Limit", "run_checks"]
