"""Which predictor `search` uses when none is given: the demo supernet's, shipped with the package
(`ofa_deploy/_data/predictors/demo.npz`; located by `ofa_deploy.paths`)."""

from __future__ import annotations

from pathlib import Path

from ..paths import shipped_predictor, shipped_predictors_dir


def default_predictor_path() -> Path | None:
    """The shipped predictor, or None when this install lacks it (then `search` asks for `--predictor`)."""
    p = shipped_predictor()
    return p if p.exists() else None


__all__ = ["default_predictor_path", "shipped_predictors_dir"]
