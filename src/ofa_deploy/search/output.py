"""A search's result as our subnet file: the arch plus what was predicted and from which sources.

Why record the sources: a predicted latency means nothing without the table (device, runtime,
calibration) it came from, nor an accuracy without its predictor; `export` and later reports read
these fields instead of asking again.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__ as _version
from ..fsio import ensure_writable
from ..outputs import check_output
from ..paths import records_dir, searches_dir
from ..space import FamilySpec, Subnet, save_subnet
from .evolution import SearchResult


def result_subnet(result: SearchResult, spec: FamilySpec, sources: dict[str, Any]) -> Subnet:
    """`sources`: `latency_table`, `predictor`, `supernet` descriptions (plain JSON values)."""
    meta = {
        "predicted": {
            "accuracy": result.accuracy,
            "latency_ms": result.latency_ms,
            "flops": result.flops,
            "params": result.params,
        },
        "search": {
            "budget": result.budget.to_dict(),
            "seed": result.seed,
            "seconds": round(result.seconds, 3),
            "resolutions": list(result.resolutions),
            "config": result.config.to_dict(),
            **({"population": result.population} if result.population is not None else {}),
        },
        **sources,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ofa_deploy_version": _version,
    }
    return Subnet(spec, result.arch, meta)


def write_result(result: SearchResult, spec: FamilySpec, path: str | os.PathLike, sources: dict[str, Any]) -> Path:
    return save_subnet(result_subnet(result, spec, sources), path)


def check_search_output(out: str | os.PathLike | None, several: bool, force: bool = False) -> None:
    """Before searching: `--out` must be new or a subnet file (a search output folder for several
    budgets), and the folders written at the end (outputs, the `last_search` record) writable, so
    that a search never fails after its work is done."""
    if out is not None:
        check_output(out, "sweep" if several else "subnet", force)
    else:
        ensure_writable(searches_dir())
    ensure_writable(records_dir())
