"""Search for the best subnet under device budgets: units, vectorised evolution, sweeps, state.

Imports numpy, `space`, `latency` and `predictor` only (no torch): `ofa-deploy search` starts fast.
"""

from .evolution import Evolution, EvolutionConfig, SearchResult, search
from .output import result_subnet, write_result
from .pareto import pareto_budgets, plot, sweep
from .problem import OBJECTIVES, Budget, Genes, Problem, build_problem
from .state import last_search_info, last_search_path, remember_last_search, searches_dir, state_dir
from .units import UnitError, format_count, format_ms, parse_count, parse_latency, parse_list

__all__ = [
    "OBJECTIVES",
    "Budget",
    "Evolution",
    "EvolutionConfig",
    "Genes",
    "Problem",
    "SearchResult",
    "UnitError",
    "build_problem",
    "format_count",
    "format_ms",
    "last_search_info",
    "last_search_path",
    "pareto_budgets",
    "parse_count",
    "parse_latency",
    "parse_list",
    "plot",
    "remember_last_search",
    "result_subnet",
    "search",
    "searches_dir",
    "state_dir",
    "sweep",
    "write_result",
]
