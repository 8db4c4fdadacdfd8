"""Every picture ofa-deploy draws, in one place (matplotlib, the Agg backend: no display needed).

Each function takes plain numbers (lists, dicts read from the records and files) and returns a
matplotlib `Figure`; `save_png` writes one atomically (the PNGs the commands write: a validation's
`validation.png`, a sweep's `pareto.png`) and `svg_text` renders one for the HTML report, with its
text kept as text (searchable, and readable by a browser test). Nothing here reads files or knows
where a number came from: the callers do.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .fsio import atomic_path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | os.PathLike, dpi: int | None = None) -> Path:
    """Write `fig` as a PNG atomically (a reader never meets half a file) and close it."""
    plt = _plt()
    p = Path(path)
    try:
        with atomic_path(p, keep_suffix=True) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return p


def svg_text(fig: Any) -> str:
    """`fig` as an inline SVG element (text kept as text, no XML prologue) and close it."""
    import matplotlib

    plt = _plt()
    buf = io.StringIO()
    try:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # ids stay random: unique across the page
            fig.savefig(buf, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _ms_range(*arrays: Sequence[float]) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(a, float) for a in arrays if len(a)])
    vals = vals[np.isfinite(vals)]
    lo, hi = float(vals.min()), float(vals.max())
    pad = 0.1 * max(hi - lo, 1e-3 * max(hi, 1e-9))
    return lo - pad, hi + pad


# ---- latency table validation ------------------------------------------------------------------
def validation_scatter(predicted: Sequence[float], measured: Sequence[float], *, title: str,
                       raw_mape: float | None = None, calibrated: Sequence[float] | None = None,
                       heldout: Sequence[bool] | None = None, calibrated_mape: float | None = None,
                       band: Sequence[float] | None = None) -> Any:
    """Measured end to end against predicted by the table, the identity line and ±10 %;
    `band`: the validated measured/predicted band, drawn as two dashed lines."""
    plt = _plt()
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    label = "block sum" + (f" (MAPE {raw_mape:.1f}%)" if raw_mape is not None else "")
    ax.scatter(p, m, s=14, label=label, alpha=0.8)
    if calibrated is not None:
        c = np.asarray(calibrated, float)
        test = np.asarray(heldout if heldout is not None else [True] * len(m), bool)
        ax.scatter(c[test], m[test], s=14, marker="x", label="calibrated, held out"
                   + (f" (MAPE {calibrated_mape:.1f}%)" if calibrated_mape is not None else ""))
    lo, hi = float(min(m.min(), p.min())) * 0.9, float(max(m.max(), p.max())) * 1.1
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="k", alpha=0.07, label="±10%")
    if band is not None and len(band) == 2 and all(b is not None for b in band):
        for b in band:
            ax.plot([lo, hi], [lo * b, hi * b], "--", color="tab:green", lw=0.8)
        ax.plot([], [], "--", color="tab:green", lw=0.8, label=f"validated band ×{band[0]:.3f}..{band[1]:.3f}")
    ax.set_xlabel("predicted (ms)")
    ax.set_ylabel("measured end to end (ms)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def residuals(predicted: Sequence[float], measured: Sequence[float], *, title: str = "") -> Any:
    """Error of the prediction in percent of the measurement, against the predicted latency."""
    plt = _plt()
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    err = 100 * (p - m) / m
    fig, ax = plt.subplots(figsize=(5, 3), dpi=110)
    ax.axhspan(-10, 10, color="k", alpha=0.07, label="±10%")
    ax.axhline(0, color="k", lw=0.8)
    ax.scatter(p, err, s=14, alpha=0.8)
    ax.set_xlabel("predicted (ms)")
    ax.set_ylabel("(predicted - measured) / measured (%)")
    ax.set_title(title or "residuals", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


# ---- search --------------------------------------------------------------------------------------
def pareto_front(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """Indices of the points no other point beats (lower or equal x and higher y), by x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    order = np.lexsort((-y, x))
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.asarray(front, dtype=int)


def sweep(xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], *, title: str,
          xlabel: str) -> Any:
    """A budget sweep: best predicted accuracy per budget, one labelled point per search."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(xs, ys, "o-", color="tab:blue")
    for label, xv, yv in zip(labels, xs, ys):
        ax.annotate(label, (xv, yv), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("predicted top-1 (%)")
    ax.set_title(title or "best predicted accuracy per budget")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def search_space_plot(population: dict[str, Sequence[float]] | None, *, budget_ms: float | None,
                      delivered: tuple[float, float] | None, rounds: Sequence[dict[str, Any]] = (),
                      title: str = "") -> Any:
    """Predicted accuracy against predicted latency of the evaluated subnets, their Pareto front,
    the budget, the delivered subnet and each verify round's candidates (predicted and measured)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if population and len(population.get("latency_ms") or []):
        x = np.asarray(population["latency_ms"], float)
        y = 100 * np.asarray(population["accuracy"], float)
        ax.scatter(x, y, s=5, color="0.7", alpha=0.6, label=f"evaluated ({len(x)})", rasterized=len(x) > 300)
        f = pareto_front(x, y)
        ax.plot(x[f], y[f], "-", color="tab:blue", lw=1.2, label="Pareto front (predicted)")
    colors = ["tab:orange", "tab:purple", "tab:brown"]
    for i, rnd in enumerate(rounds):
        c = colors[i % len(colors)]
        cands = rnd.get("candidates") or []
        acc = [100 * float(k["accuracy"]) for k in cands]
        pred = [float(k["predicted_ms"]) for k in cands]
        meas = [float(k["measured_ms"]) for k in cands]
        ax.scatter(pred, acc, s=28, facecolors="none", edgecolors=c, label=f"round {rnd.get('round')}: predicted")
        ax.scatter(meas, acc, s=28, marker="x", color=c, label=f"round {rnd.get('round')}: measured")
        for a, p, m in zip(acc, pred, meas):
            ax.plot([p, m], [a, a], ":", color=c, lw=0.8)
    if delivered is not None:
        ax.scatter([delivered[0]], [100 * delivered[1]], s=120, marker="*", color="tab:red", zorder=5,
                   label="delivered")
    if budget_ms is not None:
        ax.axvline(budget_ms, color="tab:red", ls="--", lw=1, label=f"budget {budget_ms:.3g} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("predicted top-1 (%)")
    ax.set_title(title or "search", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# ---- the subnet ----------------------------------------------------------------------------------
def subnet_drawing(blocks: Sequence[dict[str, Any]], n_stages: int, *, title: str = "") -> Any:
    """One column per stage, one box per active block: its width is the expand ratio, its label
    the kernel size (`k5 e4`)."""
    plt = _plt()
    from matplotlib.patches import Rectangle

    depth = max([b["index_in_stage"] + 1 for b in blocks] + [1])
    max_e = max([b["expand_ratio"] for b in blocks] + [1])
    fig, ax = plt.subplots(figsize=(1.3 * n_stages + 0.6, 0.55 * depth + 1.0), dpi=110)
    cmap = {3: "#c6dbef", 5: "#6baed6", 7: "#2171b5"}
    for b in blocks:
        s, j = b["stage"], b["index_in_stage"]
        w = 0.9 * b["expand_ratio"] / max_e
        k = b["kernel_size"]
        ax.add_patch(Rectangle((s + 0.5 - w / 2, depth - j - 0.9), w, 0.8, color=cmap.get(k, "#9ecae1"),
                               ec="k", lw=0.5))
        ax.text(s + 0.5, depth - j - 0.5, f"k{k} e{b['expand_ratio']}", ha="center", va="center", fontsize=7)
    ax.set_xlim(0, n_stages)
    ax.set_ylim(0, depth)
    ax.set_xticks([s + 0.5 for s in range(n_stages)])
    ax.set_xticklabels([f"stage {s + 1}" for s in range(n_stages)], fontsize=7)
    ax.set_yticks([])
    ax.set_title(title or "subnet: kernel (colour), expand (width), depth (boxes)", fontsize=8)
    fig.tight_layout()
    return fig


def block_latency(names: Sequence[str], ms: Sequence[float], *, title: str = "") -> Any:
    """Horizontal bars: each layer's predicted latency, in model order."""
    plt = _plt()
    n = len(names)
    fig, ax = plt.subplots(figsize=(7, 0.22 * n + 1.0), dpi=110)
    y = np.arange(n)[::-1]
    ax.barh(y, ms, color="tab:blue")
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=6)
    ax.set_xlabel("predicted latency (ms)")
    ax.set_title(title or "per-layer latency (table rows)", fontsize=9)
    fig.tight_layout()
    return fig


# ---- benchmarks ----------------------------------------------------------------------------------
def benchmarks(rows: Sequence[dict[str, Any]], *, title: str = "") -> Any:
    """Per benchmarked file: the measured distribution (p10..p90 bar, median dot, mean ± std as a
    thin line), the table's prediction (diamond) and the search's budget (dashed tick)."""
    plt = _plt()
    n = len(rows)
    fig, ax = plt.subplots(figsize=(7, 0.6 * n + 1.2), dpi=110)
    for i, r in enumerate(rows):
        y = n - 1 - i
        m = r["measured_ms"]
        if m["mean"] - m["std"] > 0:  # a spread wider than the mean (a loaded machine's outliers) is not drawn
            ax.plot([m["mean"] - m["std"], m["mean"] + m["std"]], [y, y], "-", color="0.6", lw=1)
        ax.plot([m["p10"], m["p90"]], [y, y], "-", color="tab:blue", lw=6, alpha=0.5,
                label="measured p10..p90" if i == 0 else None)
        ax.plot([m["median"]], [y], "o", color="tab:blue", label="measured median" if i == 0 else None)
        if r.get("predicted_ms") is not None:
            ax.plot([r["predicted_ms"]], [y], "D", color="tab:green", label="predicted" if i == 0 else None)
        if r.get("budget_ms") is not None:
            ax.plot([r["budget_ms"]] * 2, [y - 0.3, y + 0.3], "--", color="tab:red",
                    label="budget" if i == 0 else None)
    values = [v for r in rows for v in (r["measured_ms"]["p10"], r["measured_ms"]["p90"], r.get("predicted_ms"),
                                         r.get("budget_ms")) if isinstance(v, (int, float)) and v > 0]
    if values and max(values) > 20 * min(values):  # an int8 file 50x slower than the budget: keep both readable
        ax.set_xscale("log")
    ax.set_yticks(range(n))
    ax.set_yticklabels([Path(r["file"]).name for r in rows][::-1], fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("latency (ms)")
    ax.set_title(title or "benchmarks", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


__all__ = ["benchmarks", "block_latency", "pareto_front", "residuals", "save_png", "search_space_plot",
           "subnet_drawing", "svg_text", "sweep", "validation_scatter"]
