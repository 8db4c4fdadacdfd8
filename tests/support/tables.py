"""Synthetic latency tables and accuracy predictors (no ../shared needed).

Two tables, because two kinds of test need them: `synthetic_table` fills every statistic of a row
(count, mean, median, std, p10, p90), as a profiled table has, for the tests of table files and
writers; `search_table` holds means only, scaled with the resolution and optionally calibrated, for
the search tests. Their random values differ on purpose (each test's expectations were set on its own).
"""

from __future__ import annotations

import itertools

import numpy as np

from ofa_deploy.latency import LatencyTable, Row, resolution_keys, space_keys
from ofa_deploy.predictor import MLP, OneHotEncoding, Predictor
from ofa_deploy.space import SpaceSpec

SMALL = SpaceSpec(width_mult=1.0, n_classes=10, resolutions=(128, 144, 160, 176))


def synthetic_table(spec: SpaceSpec, resolutions: list[int], seed: int = 0) -> LatencyTable:
    """Every key of the space at each resolution, with all the statistics of a profiled row."""
    rng = np.random.default_rng(seed)
    rows = [Row(k, r, 10, float(v), float(v), 0.01, float(v) * 0.9, float(v) * 1.1)
            for r, keys in space_keys(spec, resolutions).items()
            for k, v in zip(keys, rng.uniform(0.01, 2.0, len(keys)))]
    return LatencyTable(spec, rows, {"device": "fake"})


def search_table(spec: SpaceSpec, resolutions: tuple[int, ...], seed: int = 0,
                 calibration: dict | None = None, device: str = "fake") -> LatencyTable:
    """Positive random latencies (means) for every key of the space at each resolution."""
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
