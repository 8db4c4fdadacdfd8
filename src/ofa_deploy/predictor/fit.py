"""Fit an accuracy predictor on an accuracy dataset of our own supernet.

The model is the official one's (Cai et al., "Once for All", ICLR 2020: an MLP 400-400-400 with
ReLU on the one-hot arch encoding, predicting top-1 as a fraction), fitted with scikit-learn's
`MLPRegressor` on standardised targets, then written as our numpy `MLP`: sklearn's `coefs_` are
(in, out) and become (out, in) weights, and the target scaling is folded into the last layer, so
the saved file predicts what the sklearn estimator predicts (to float32 rounding).

Rows are split once (seeded) into a fitting part and a held-out part; the held-out RMSE (in
accuracy points), Kendall's tau and Spearman's rho say how far the predictor can be trusted to
rank subnets, which is all the search asks of it. They are stored in the predictor's `meta`.
scikit-learn and scipy are imported when a fit starts (the search imports this package).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from .. import checks
from ..errors import BadValueError, FormatError, SpaceError
from ..space import FamilySpec
from .dataset import AccuracyDataset, supernet_label
from .encoding import FamilyEncoding, encoding_for
from .model import MLP, Predictor

DEFAULT_HIDDEN = (400, 400, 400)


def encoding_for_space(spec: FamilySpec) -> FamilyEncoding:
    """The space's one-hot encoding (its kind's: `encoding.encoding_for`) whose resolution buckets are the space's: start = smallest resolution,
    step = the common step (gcd of the gaps), one bucket per step up to the largest (24, 28, 32
    -> start 24, step 4, 3 buckets)."""
    rs = sorted(spec.resolutions)
    gaps = [b - a for a, b in pairwise(rs)]
    step = reduce(math.gcd, gaps) if gaps else 1
    buckets = (rs[-1] - rs[0]) // step + 1
    if buckets > 64:
        raise SpaceError(f"resolutions {rs} need {buckets} one-hot buckets of {step} px; give the space "
                         "resolutions on a common step")
    return encoding_for(spec, rs[0], step, buckets)


def ranking_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE in accuracy points (targets are fractions), Kendall's tau, Spearman's rho."""
    from scipy.stats import kendalltau, spearmanr

    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    rmse = float(np.sqrt(np.mean((y_true - y_pred) ** 2))) * 100.0
    if len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        tau = rho = float("nan")
    else:
        tau = float(kendalltau(y_true, y_pred).statistic)
        rho = float(spearmanr(y_true, y_pred).statistic)
    return {"n": len(y_true), "rmse_points": rmse, "kendall_tau": tau, "spearman": rho}


def mlp_from_sklearn(regressor: Any, y_mean: float = 0.0, y_scale: float = 1.0, dtype: Any = np.float32) -> MLP:
    """Our `MLP` from a fitted `MLPRegressor` (ReLU, one output), with `y = y_mean + y_scale * out`
    folded into the last layer."""
    if getattr(regressor, "activation", None) != "relu" or getattr(regressor, "out_activation_", None) != "identity":
        raise FormatError("only MLPRegressor(activation='relu') with an identity output can be converted")
    weights = [np.asarray(c, np.float64).T for c in regressor.coefs_]
    biases = [np.asarray(b, np.float64) for b in regressor.intercepts_]
    weights[-1] = weights[-1] * y_scale
    biases[-1] = biases[-1] * y_scale + y_mean
    return MLP(weights, biases, dtype)


MAX_LAYERS = 16
MAX_LAYER_WIDTH = 65_536


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer widths from `400,400,400` (the `--hidden` option)."""
    try:
        widths = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise BadValueError(f"--hidden takes comma-separated layer widths such as 400,400,400, got {text!r}") from None
    check_hidden(widths)
    return widths


def check_hidden(widths: tuple[int, ...]) -> None:
    if not 1 <= len(widths) <= MAX_LAYERS:
        raise BadValueError(f"--hidden takes 1 to {MAX_LAYERS} layer widths, got {len(widths)}")
    for w in widths:
        checks.integer(w, "--hidden: every layer width", 1, MAX_LAYER_WIDTH)


def check_fit_options(holdout: float, seed: int, hidden: tuple[int, ...], alpha: float) -> float:
    """The numbers of a fit, checked before any row is read: `holdout` in [0, 1) (0 fits every row and
    reports no held-out metrics), a valid seed, hidden widths, a finite L2 penalty >= 0."""
    x = checks.fraction(holdout, "--holdout", zero=True)
    checks.seed(seed)
    check_hidden(tuple(hidden))
    checks.number(alpha, "--alpha", 0)
    return x


@dataclass
class FitResult:
    predictor: Predictor
    estimator: Any  # the fitted sklearn estimator (predicts fractions from float64 features)
    train_metrics: dict[str, float]
    holdout_metrics: dict[str, float] | None
    train_rows: np.ndarray  # row positions in the dataset
    holdout_rows: np.ndarray


def fit_predictor(data: AccuracyDataset, holdout: float = 0.2, seed: int = 0,
                  hidden: tuple[int, ...] = DEFAULT_HIDDEN, max_iter: int = 2000, alpha: float = 1e-4,
                  learning_rate: float = 1e-3, early_stopping: bool = True, name: str | None = None) -> FitResult:
    """Fit an MLP predictor on `data`, holding out a seeded `holdout` fraction of rows for metrics.

    `early_stopping` stops when the score on a further 10% of the fitting rows stops improving for
    50 epochs (used when at least 50 rows are fitted); `holdout=0` fits every row and reports
    no held-out metrics.
    """
    import warnings

    from sklearn.compose import TransformedTargetRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    holdout = check_fit_options(holdout, seed, hidden, alpha)
    spec = data.spec
    n = len(data)
    n_hold = round(holdout * n)
    if holdout > 0 and (n_hold < 3 or n - n_hold < 3):
        raise FormatError(f"{n} rows are too few to hold out {holdout:g} of them (at least 3 on each side); "
                          "measure more subnets or use --holdout 0")
    if n < 3:
        raise FormatError(f"{n} rows are too few to fit a predictor; measure more subnets")
    order = np.random.default_rng(seed).permutation(n)
    hold_rows, fit_rows = np.sort(order[:n_hold]), np.sort(order[n_hold:])

    encoding = encoding_for_space(spec)
    x = encoding.encode(data.archs, dtype=np.float64)
    y = data.accuracy.astype(np.float64)
    stop = early_stopping and len(fit_rows) >= 50
    estimator = TransformedTargetRegressor(
        regressor=MLPRegressor(hidden_layer_sizes=tuple(hidden), activation="relu", solver="adam", alpha=alpha,
                               learning_rate_init=learning_rate, max_iter=max_iter, early_stopping=stop,
                               validation_fraction=0.1, n_iter_no_change=50, random_state=seed),
        transformer=StandardScaler(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(x[fit_rows], y[fit_rows])
    scaler = estimator.transformer_
    model = mlp_from_sklearn(estimator.regressor_, float(scaler.mean_[0]), float(scaler.scale_[0]))

    train_metrics = ranking_metrics(y[fit_rows], estimator.predict(x[fit_rows]))
    hold_metrics = ranking_metrics(y[hold_rows], estimator.predict(x[hold_rows])) if n_hold else None
    label = supernet_label(str(data.meta.get("supernet") or "supernet"))
    meta: dict[str, Any] = {
        "name": name or f"{label} accuracy predictor (MLP on {n} subnets)",
        "source": data.path.name,
        "supernet": label,
        "supernet_sha256": data.meta.get("supernet_sha256"),
        "dataset": f"{data.meta['dataset']['name']} validation split, {data.meta['val_images']} images "
                   f"(BN recalibrated on {data.meta['bn_images']})",
        "rows": n,
        "fitted_rows": len(fit_rows),
        "fit": (f"sklearn MLPRegressor {'-'.join(map(str, hidden))} relu, adam lr {learning_rate:g}, "
                f"alpha {alpha:g}, {'early stopping' if stop else f'{max_iter} epochs max'}, seed {seed}, "
                f"{estimator.regressor_.n_iter_} epochs"),
        "train_rmse_points": _rounded(train_metrics["rmse_points"]),
    }
    if hold_metrics is not None:
        meta.update({"holdout_rows": hold_metrics["n"],
                     "holdout_rmse_points": _rounded(hold_metrics["rmse_points"]),
                     "holdout_kendall_tau": _rounded(hold_metrics["kendall_tau"]),
                     "holdout_spearman": _rounded(hold_metrics["spearman"])})
    resolutions = tuple(sorted({int(r) for r in data.archs.r}))
    target = f"{data.meta['dataset']['name']}_val_top1"
    predictor = Predictor(spec, encoding, model, resolutions, target, meta)
    return FitResult(predictor, estimator, train_metrics, hold_metrics, fit_rows, hold_rows)


def _rounded(v: float) -> float | None:
    """4 decimals; None for NaN (a constant prediction has no rank correlation), so meta stays JSON."""
    return None if math.isnan(v) else round(v, 4)


__all__ = ["DEFAULT_HIDDEN", "FitResult", "encoding_for_space", "fit_predictor", "mlp_from_sklearn",
           "ranking_metrics"]


def fit_file(folder: Path, out: Path, holdout: float, seed: int, hidden: str, alpha: float,
             name: str | None = None, force: bool = False) -> tuple[FitResult, AccuracyDataset, Path]:
    """`predictor fit`: the options (`hidden` as text, `8,8`) and `out` are checked before the
    dataset in `folder` is read; the fitted predictor is saved to `out`. Returns the fit, the
    dataset and the file written."""
    from ..outputs import check_output
    from .dataset import load_accuracy_dataset

    widths = parse_hidden(hidden)
    check_fit_options(holdout, seed, widths, alpha)
    check_output(out, "predictor", force)
    data = load_accuracy_dataset(folder)
    result = fit_predictor(data, holdout, seed, widths, alpha=alpha, name=name)
    return result, data, result.predictor.save(out)
