"""Several budgets at once: one search per budget, a table and a plot of accuracy vs latency.

Why separate searches rather than one multi-objective run: each budget gets the full OFA search
(the regime the defaults were tuned for), and a 500-generation search costs about a second, so a
sweep of 8 points is still interactive. `pareto_budgets` spaces the budgets between the smallest
achievable value and the largest subnet's value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import checks
from .evolution import EvolutionConfig, SearchResult, search
from .problem import Budget, Problem


def pareto_budgets(problem: Problem, objective: str, points: int = 8) -> list[float]:
    """`points` budgets from just above the smallest achievable value to the largest subnet's value
    (one point: the largest subnet's value), each rounded to 3 significant digits."""
    points = checks.count(points, "--points", checks.MAX_POINTS)
    low, _ = problem.minimum(objective)
    high = _maximum(problem, objective)
    if points < 2:
        return [_round3(high, low)]
    return [_round3(float(v), low) for v in np.linspace(low * 1.02, high, points)]


def _round3(value: float, low: float) -> float:
    """`value` to 3 significant digits (file names and tables read `lat0.523ms`, not `0.5226172ms`),
    never below the smallest achievable `low` (that budget would have no subnet)."""
    r = float(f"{value:.3g}")
    if r < low:
        exp = np.floor(np.log10(abs(value))) - 2
        r = float(np.ceil(value / 10 ** exp) * 10 ** exp)
        r = float(f"{r:.3g}")
    return r


def _maximum(problem: Problem, objective: str) -> float:
    return float(problem.costs(problem._largest_genes(), (objective,))[0, 0])


def sweep(problem: Problem, base: Budget, objective: str, values: Sequence[float],
          config: EvolutionConfig | None = None, seed: int = 0) -> list[SearchResult]:
    """One search per value of `objective` (`latency`, `flops` or `params`), other budgets kept.

    A subnet found under a tighter budget meets every looser one: where a tighter budget's search
    found a better subnet than a looser budget's own search (evolution is stochastic), the looser
    budget reports that subnet, so the curve never goes down.
    """
    field = {"latency": "latency_ms", "flops": "flops", "params": "params"}[objective]
    results = [search(problem, replace(base, **{field: float(v)}), config, seed) for v in values]
    best: SearchResult | None = None
    for i in np.argsort(np.asarray(values, dtype=float), kind="stable"):
        r = results[i]
        if best is not None and best.accuracy > r.accuracy:
            results[i] = replace(best, budget=r.budget, seconds=r.seconds, history=r.history,
                                 evaluated=r.evaluated, predicted=r.predicted)
        best = results[i]
    return results


def plot(results: Sequence[SearchResult], path: str | os.PathLike, title: str = "",
         x: str = "latency") -> Path:
    """PNG of predicted accuracy against latency (or FLOPs), one point per search (`plots.sweep`)."""
    from ..plots import save_png
    from ..plots import sweep as sweep_plot

    xs = [r.latency_ms if x == "latency" else r.flops / 1e6 for r in results]
    ys = [100 * r.accuracy for r in results]
    fig = sweep_plot(xs, ys, [r.arch.short() for r in results], title=title,
                     xlabel="predicted latency (ms)" if x == "latency" else "MFLOPs (MACs)")
    return save_png(fig, path)
