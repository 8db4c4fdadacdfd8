"""One plain sentence under a table of metrics: good, fair or poor, and what to do about it.

Why thresholds written down here: `MAPE 25.0`, `±10 % 12` or `Kendall tau 0.333` mean nothing to
someone who has not read the latency notes. The bands are this project's own reading of them: a
latency table whose held-out MAPE is at most 5 % with Kendall tau at least 0.8 ranks subnets as the
device does and keeps a budget within a few percent (the shipped CPU table: 2.2 %, 0.88); above
10 % or below 0.6 the search's choice under a budget is close to a guess. Terminal commands and the
HTML report both print these verdicts (one source of truth).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Verdict:
    level: str  # "good", "fair", "poor" or "unknown"
    text: str

    def line(self) -> str:
        return f"verdict: {self.level}: {self.text}"


def _num(m: Mapping[str, Any], key: str) -> float | None:
    v = m.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def latency_verdict(metrics: Mapping[str, Any] | None, band: Any = None) -> Verdict:
    """Verdict on a latency table's validation metrics (`latency.validation.error_metrics`)."""
    if not metrics:
        return Verdict("unknown", "the table was never validated; run `ofa-deploy latency validate`")
    mape, tau = _num(metrics, "mape"), _num(metrics, "kendall_tau")
    band = band if band is not None else metrics.get("ratio_band")
    spread = ""
    if isinstance(band, (list, tuple)) and len(band) == 2 and all(isinstance(b, (int, float)) for b in band):
        spread = f"; measured was {band[0]:.2f}..{band[1]:.2f} x predicted on 90 % of the subnets"
    if mape is None:
        return Verdict("unknown", "no error metric recorded")
    tau_text = f", Kendall tau {tau:.2f}" if tau is not None else ""
    if mape <= 5 and (tau is None or tau >= 0.8):
        return Verdict("good", f"predictions within {mape:.1f} % on average{tau_text}: the search's order and "
                               f"budgets can be trusted{spread}")
    if mape <= 10 and (tau is None or tau >= 0.6):
        return Verdict("fair", f"predictions off by {mape:.1f} % on average{tau_text}: keep `search --verify` on, or "
                               f"give a --margin{spread}")
    return Verdict("poor", f"predictions off by {mape:.1f} % on average{tau_text}: re-profile with more sessions "
                           f"(`profile --fresh`) or calibrate (`latency validate --calibrate`){spread}")


def predictor_verdict(metrics: Mapping[str, Any] | None) -> Verdict:
    """Verdict on an accuracy predictor's held-out metrics (`rmse_points`, `kendall_tau`)."""
    if not metrics:
        return Verdict("unknown", "no held-out rows (--holdout 0): nothing to judge the fit by")
    rmse, tau = _num(metrics, "rmse_points"), _num(metrics, "kendall_tau")
    if rmse is None or tau is None:
        return Verdict("unknown", "no error metric recorded")
    if rmse <= 1.0 and tau >= 0.6:
        return Verdict("good", f"held-out error {rmse:.2f} points, tau {tau:.2f}: ranks subnets well enough to search")
    if rmse <= 2.0 and tau >= 0.4:
        return Verdict("fair", f"held-out error {rmse:.2f} points, tau {tau:.2f}: measure more subnets "
                               "(`predictor dataset --samples` higher) for a finer ranking")
    return Verdict("poor", f"held-out error {rmse:.2f} points, tau {tau:.2f}: the search's accuracy ranking is "
                           "unreliable; measure more subnets and fit again")


__all__ = ["Verdict", "latency_verdict", "predictor_verdict"]
