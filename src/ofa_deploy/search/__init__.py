"""Search for the best subnet under device budgets: units, vectorised evolution, sweeps, a run (session).

Imports numpy, `space`, `latency` and `predictor` only (no torch): `ofa-deploy search` starts fast.
"""

from ..units import UnitError, format_count, format_ms, parse_count, parse_latency, parse_list
from .evolution import Evolution, EvolutionConfig, SearchResult, search
from .output import result_subnet, write_result
from .pareto import pareto_budgets, plot, sweep
from .problem import OBJECTIVES, Budget, Genes, Problem, build_problem
from .session import SearchOutcome, SearchRequest, budget_tag, run_search

__all__ = [
    "OBJECTIVES",
    "Budget",
    "Evolution",
    "EvolutionConfig",
    "Genes",
    "Problem",
    "SearchOutcome",
    "SearchRequest",
    "SearchResult",
    "UnitError",
    "budget_tag",
    "build_problem",
    "format_count",
    "format_ms",
    "pareto_budgets",
    "parse_count",
    "parse_latency",
    "parse_list",
    "plot",
    "result_subnet",
    "run_search",
    "search",
    "sweep",
    "write_result",
]
