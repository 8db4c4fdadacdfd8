"""Synthetic tables and predictors shared by the search and predictor tests (no ../shared needed; no tests here)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ofa_deploy.latency import LatencyTable, Row, resolution_keys
from ofa_deploy.predictor import MLP, OneHotEncoding, Predictor
from ofa_deploy.space import SpaceSpec

SHARED = Path(__file__).resolve().parents[2] / "shared"
NOTE10 = SHARED / "reference" / "ofa" / "note10"
OFFICIAL_PTH = SHARED / "reference" / "ofa" / "acc_predictor.pth"
CASES = SHARED / "golden" / "ofa_mbv3_w1.2" / "cases.json"

SMALL = SpaceSpec(width_mult=1.0, n_classes=10, resolutions=(128, 144, 160, 176))


def synthetic_table(spec: SpaceSpec, resolutions: tuple[int, ...], seed: int = 0,
                    calibration: dict | None = None, device: str = "fake") -> LatencyTable:
    """Positive random latencies for every key of the space at each resolution."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in resolutions:
        for key in resolution_keys(spec, r).distinct():
            rows.append(Row(key, r, 5, float(rng.uniform(0.05, 2.0)) * r / 128))
    return LatencyTable(spec, rows, {"device": device, "stat": "mean", "calibration": calibration})


def synthetic_predictor(spec: SpaceSpec, seed: int = 0, hidden: int = 32, r_start: int = 112,
                        r_step: int = 16, r_buckets: int = 8) -> Predictor:
    rng = np.random.default_rng(seed)
    enc = OneHotEncoding.for_space(spec, r_start, r_step, r_buckets)
    sizes = [enc.n_features, hidden, hidden, 1]
    ws = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in itertools.pairwise(sizes)]
    bs = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    covered = tuple(r for r in enc.resolutions() if r in spec.resolutions)
    return Predictor(spec, enc, MLP(ws, bs), covered, "synthetic", {"name": "synthetic"})
