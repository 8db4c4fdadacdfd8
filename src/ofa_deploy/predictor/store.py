"""Where shipped predictors live, and which one `search` uses when none is given.

The predictor of the demo supernet that ships with the package is to be written (by the issue
that trains it) to `ofa_deploy/_data/predictors/demo.npz` (package data, installed with the
wheel). Until it exists, `default_predictor_path()` returns None and `search` asks for
`--predictor`.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_PREDICTOR_NAME = "demo.npz"


def shipped_predictors_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "_data" / "predictors"


def default_predictor_path() -> Path | None:
    p = shipped_predictors_dir() / DEFAULT_PREDICTOR_NAME
    return p if p.exists() else None
