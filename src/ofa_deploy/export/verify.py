"""Does the exported file compute what the PyTorch subnet computes? Metrics and explicit tolerances.

As `optimum-cli export` does, every export is checked against the framework model right away,
on real images. fp32 files must match to float rounding, judged per image by `export.parity`
(relative to each image's logit scale at p99 and at the max, SQNR, top-1 beyond ties, and
weighed against PyTorch fp32's own rounding when the network is ill-conditioned; `FP32_LIMITS`
below is the old whole-set rule, kept for callers that have no module to weigh against). Quantised files cannot match logits; what matters is
accuracy (at most 1 point lost on labelled images). Size (at most 30 % of the fp32 file) is a
target, reported but not fatal: a file that computes the right thing is not wrong for being
larger, and on small nets the per-channel scales and tensor names of the format alone weigh more
than 5 % of the fp32 file.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ExportError
from .limits import Limit

FP32_LIMITS = (
    Limit("max_abs_diff_rel", "<=", 1e-4, "max |diff| / logit scale"),
    Limit("top1_agreement", ">=", 100.0, "top-1 agreement", "%"),
)
QUANTIZED_LIMITS = (
    Limit("accuracy_drop", "<=", 1.0, "accuracy drop", " points"),
    Limit("size_ratio", "<=", 0.30, "size / fp32 size", fatal=False),
)


def int8_limits(max_drop: float, stability: bool = True) -> tuple[Limit, ...]:
    """Full-integer int8: the accuracy drop bound of accuracy-controlled quantisation (`--max-drop`), on
    the file and (`stability`: when it was measured) on the same ops quantised with the second, disjoint
    calibration set: a drop that holds for one calibration set only is luck, not a property of the
    quantised subnet."""
    second = (Limit("second_calibration_drop", "<=", max_drop, "accuracy drop, 2nd calibration set", " points"),)
    return (Limit("accuracy_drop", "<=", max_drop, "accuracy drop", " points"), *(second if stability else ()),
            *QUANTIZED_LIMITS[1:])


def compare(reference: np.ndarray, actual: np.ndarray, labels: np.ndarray | None = None,
            tolerance: Any = None) -> dict[str, Any]:
    """Metrics of `actual` logits against `reference` logits (N, classes); accuracies with labels; the
    per-image fp32 parity metrics (`export.parity`) when a `parity.Tolerance` is given."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(actual, dtype=np.float64)
    if ref.shape != out.shape:
        raise ExportError(f"logit shapes differ: reference {ref.shape}, exported {out.shape}")
    err = out - ref
    scale = float(np.abs(ref).max())
    noise = float((err ** 2).sum())
    m: dict[str, Any] = {
        "images": len(ref),
        "max_abs_diff": float(np.abs(err).max()),
        "logit_scale": scale,
        "max_abs_diff_rel": float(np.abs(err).max()) / scale if scale > 0 else math.inf,
        "top1_agreement": 100.0 * float((ref.argmax(1) == out.argmax(1)).mean()),
        "sqnr_db": 10 * math.log10(float((ref ** 2).sum()) / noise) if noise > 0 else math.inf,
    }
    if labels is not None:
        labels = np.asarray(labels)
        m["accuracy_torch"] = 100.0 * float((ref.argmax(1) == labels).mean())
        m["accuracy_file"] = 100.0 * float((out.argmax(1) == labels).mean())
        m["accuracy_drop"] = m["accuracy_torch"] - m["accuracy_file"]
    if tolerance is not None:
        from .parity import MAX_FACTOR, parity_metrics

        m.update(parity_metrics(ref, out, tolerance, MAX_FACTOR * tolerance.rtol))
    return m


def failed(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Missed tolerances (targets excluded)."""
    return [c for c in checks if c["passed"] is False and c.get("fatal", True)]


def missed_targets(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in checks if c["passed"] is False and not c.get("fatal", True)]


def describe_check(c: dict[str, Any]) -> str:
    """'top-1 agreement 98.2 % (limit >= 100 %)'."""
    return f"{c['label']} {format_value(c['value'])}{c['unit']} (limit {c['bound']} {format_value(c['limit'])}{c['unit']})"


def format_value(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0 or math.isinf(v) or 1e-2 <= abs(v) < 1e5:
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.1f}"
    return f"{v:.2e}"
