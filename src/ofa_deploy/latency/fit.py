"""Per-row latency costs fitted to whole subnets timed end to end (ridge toward the isolated table).

Why: a block timed alone is not the block inside a network (LATENCY_NOTES: 10-40 % off, cache
state, per-run overhead counted once per block instead of once per model), and a linear
calibration fitted in one session drifts to the next. If the table's rows are what the blocks
cost *inside* subnets, the block sum is right without any calibration. Each whole subnet timed
end to end is one linear equation: the sum of its rows' costs equals its measured time. Random
subnets give many more equations than rows, so the costs follow by least squares.

The isolated-block table is the prior: the fit minimises

    sum_i ((A c - y)_i / y_i)^2  +  lam * sum_k ((c_k - s * p_k) / p_k)^2

over the costs `c` (A: how often each row occurs in each subnet, y: measured ms, p: isolated
ms), i.e. relative errors on both sides, since what matters is the error in percent. `s` is one
free common factor (the mostly multiplicative in-context bias; fixed at 1 with `scale=False`).
Rows no subnet contains have nothing to fit and keep their isolated value exactly (`samples` 0).
Rows that always occur together (the fixed layers of one resolution) are only known as a sum
(which is all a prediction uses): the penalty shares the change of that sum among them. Torch-free: numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import LatencyTableError
from ..space import FamilyArch, FamilySpec
from .blocks import arch_keys

# (relative noise of one subnet's time / relative spread of the in-context changes)^2: the best of
# 0.01..0.3 on held-out subnets of the demo space (0.03-0.1 were within 0.1 point of MAPE)
DEFAULT_LAMBDA = 0.05
FLOOR = 0.1    # no row below a tenth of its isolated cost (a guard against noisy fits, not a model)
HUBER = 1.345  # Huber's constant, in robust standard deviations of the subnets' relative residuals


@dataclass(frozen=True)
class FitResult:
    """Fitted ms per row (same order as the prior), subnets supporting each row, the common factor."""

    costs: np.ndarray
    samples: np.ndarray
    scale: float
    lam: float
    residual_mape: float   # on the subnets that were fitted (percent)

    def predict(self, counts: np.ndarray) -> np.ndarray:
        return np.asarray(counts, float) @ self.costs


def count_matrix(spec: FamilySpec, archs: Sequence[FamilyArch], keys: Sequence[str]) -> np.ndarray:
    """(n_archs, n_keys) how many times each key occurs in each arch (all archs at resolutions
    whose rows `keys` are: one resolution per fit)."""
    index = {k: j for j, k in enumerate(keys)}
    a = np.zeros((len(archs), len(keys)))
    for i, arch in enumerate(archs):
        for key in arch_keys(spec, arch):
            if key not in index:
                raise LatencyTableError(f"subnet {i} has a layer {key} at resolution {arch.r} that the fit does "
                                        "not know; fit one resolution at a time with all its keys")
            a[i, index[key]] += 1
    return a


def ridge_fit(counts: np.ndarray, measured: np.ndarray, prior: np.ndarray, lam: float = DEFAULT_LAMBDA,
              scale: bool = True, floor: float = FLOOR, robust: bool = True) -> FitResult:
    """Costs `c` (ms per row) with `counts @ c` close to `measured`, shrunk toward `s * prior`.

    `lam` = 0 is plain least squares; where the data do not determine the costs (rows always
    together, rows never seen) the minimum-norm solution in relative units stays on the prior.
    With noise-free sums and a full-rank design, `lam` = 0 recovers the costs exactly.

    Two guards for timings taken on a busy machine (a background job slows some subnets down):
    `robust` down-weights subnets whose residual is far beyond the others' (Huber weights,
    iterated), and no row goes below `floor` times its prior (such a row is held there and the
    others refitted), so that a noisy fit never yields a latency <= 0.
    """
    a = np.asarray(counts, float)
    y = np.asarray(measured, float)
    p = np.asarray(prior, float)
    if a.ndim != 2 or a.shape != (len(y), len(p)):
        raise LatencyTableError(f"fit needs counts of shape (subnets, rows) = ({len(y)}, {len(p)}), got {a.shape}")
    if len(y) == 0:
        raise LatencyTableError("fit needs at least one subnet timed end to end")
    if not (np.isfinite(y).all() and (y > 0).all() and np.isfinite(p).all() and (p > 0).all()):
        raise LatencyTableError("fit needs finite, positive measured times and prior costs")
    if lam < 0 or not np.isfinite(lam):
        raise LatencyTableError(f"ridge strength must be a finite number >= 0, got {lam}")
    if not 0 < floor < 1:
        raise LatencyTableError(f"the fit's floor must be a fraction of the prior in (0, 1), got {floor}")
    held = np.zeros(len(p), bool)           # rows held at the floor
    w = np.ones(len(y))
    for _ in range(20):
        costs, s = _solve(a, y, p, lam, scale, w, held, floor)
        low = (costs < floor * p) & ~held
        rel = (a @ costs - y) / y
        if robust:
            sigma = max(1.4826 * float(np.median(np.abs(rel - np.median(rel)))), 1e-3)
            w_new = np.minimum(1.0, HUBER * sigma / np.maximum(np.abs(rel), 1e-12))
        else:
            w_new = w
        if not low.any() and np.allclose(w_new, w, rtol=1e-3, atol=1e-4):
            break
        held |= low
        w = w_new
    samples = (a > 0).sum(axis=0).astype(int)
    fitted = a @ costs
    return FitResult(costs, samples, s, float(lam), float(np.mean(np.abs(fitted - y) / y) * 100))


def _solve(a: np.ndarray, y: np.ndarray, p: np.ndarray, lam: float, scale: bool, w: np.ndarray, held: np.ndarray,
           floor: float) -> tuple[np.ndarray, float]:
    """One weighted ridge solve in relative units (delta_k = c_k / p_k - s); rows in `held` sit at
    `floor * p` and are moved to the right-hand side."""
    free = (a.sum(axis=0) > 0) & ~held
    costs = p.copy()
    costs[held] = floor * p[held]
    sw = np.sqrt(w)[:, None]
    b = a[:, free] * p[free] / y[:, None]          # one row per subnet, in fractions of its time
    base = b.sum(axis=1)                            # what the prior alone predicts of it (free rows)
    rest = 1.0 - a[:, held] @ costs[held] / y       # what is left for the free rows to explain
    k = int(free.sum())
    if scale:  # unknowns [s, delta]: the data rows, then the penalty on delta only
        design = np.vstack([sw * np.column_stack([base, b]), np.column_stack([np.zeros(k), np.sqrt(lam) * np.eye(k)])])
        target = np.concatenate([sw[:, 0] * rest, np.zeros(k)])
        sol = np.linalg.lstsq(design, target, rcond=None)[0]
        s, delta = float(sol[0]), sol[1:]
    else:
        design = np.vstack([sw * b, np.sqrt(lam) * np.eye(k)])
        target = np.concatenate([sw[:, 0] * (rest - base), np.zeros(k)])
        s, delta = 1.0, np.linalg.lstsq(design, target, rcond=None)[0]
    costs[free] = p[free] * (s + delta)
    return costs, s
