"""`latency validate`: how far is the block sum from whole subnets timed end to end?

Random subnets of the table's space are extracted from the supernet, exported whole, and timed
with the same backend and protocol as the table (interleaved, fresh sessions pooled). We report
MAPE, the share within +-10 %, Kendall's tau (what the search cares about: the order), and the
ratio measured / predicted.

On a CPU, blocks timed alone run faster than inside a chain (warm caches; LATENCY_NOTES), so the
raw sum under-predicts by a mostly multiplicative bias. `calibrate` fits `ms = a * sum + b` on a
part of the subnets, reports raw and calibrated errors on the held-out rest, and stores the fit
with the table so that `LatencyTable.predict(calibrated=True)` uses it.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import checks
from ..errors import LatencyTableError
from ..fsio import atomic_write_text
from ..space import FamilyBatch, sample_archs
from .protocol import Protocol, measure
from .table import LatencyTable, apply_calibration


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two samples (O(n^2): validation sets are small)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(len(a), 1)
    da, db = da[iu], db[iu]
    denom = np.sqrt(np.count_nonzero(da) * np.count_nonzero(db))
    return float((da * db).sum() / denom) if denom > 0 else float("nan")


def error_metrics(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """How far predictions are from measurements, in percent of the measurement: MAPE, RMSPE, the
    shares within +-5 % and +-10 %, the 95th percentile of the absolute error, Kendall's tau (the
    order), and the ratio measured / predicted (median and its 5th-95th percentile band)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    rel = (p - m) / m
    ratio = m / p
    return {
        "n": len(m),
        "mape": float(np.mean(np.abs(rel)) * 100),
        "rmspe": float(np.sqrt(np.mean(rel ** 2)) * 100),
        "within_5": float(np.mean(np.abs(rel) <= 0.05) * 100),
        "within_10": float(np.mean(np.abs(rel) <= 0.10) * 100),
        "p95_ape": float(np.percentile(np.abs(rel), 95) * 100),
        "kendall_tau": kendall_tau(p, m),
        "measured_over_predicted": float(np.median(ratio)),
        "ratio_band": [float(np.percentile(ratio, 5)), float(np.percentile(ratio, 95))],
    }


def validation_record(result: dict[str, Any], date: str) -> dict[str, Any]:
    """What is stored with the table (`meta.yaml` `validation`): the metrics of the prediction the
    table now makes (calibrated when a calibration is stored or was just fitted), on held-out
    subnets only (without --calibrate, every subnet is held out), and the validated band of
    measured / predicted that `latency.drift` checks later measurements against."""
    metrics = (result.get("calibrated_heldout") or result.get("calibrated_all") or result["raw_all"])
    clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()}
    return {"date": date, "heldout": clean, "ratio_band": clean["ratio_band"], "seed": result["seed"],
            "resolutions": result["resolutions"], "calibrated": "calibrated" in result}


def fit_linear(raw: Sequence[float], measured: Sequence[float]) -> dict[str, Any]:
    """Least-squares `measured = a * raw + b` (in ms)."""
    x, y = np.asarray(raw, float), np.asarray(measured, float)
    if len(x) < 2 or np.ptp(x) == 0:
        raise LatencyTableError("calibration needs at least 2 subnets of different predicted latency")
    a, b = np.polyfit(x, y, 1)
    return {"kind": "linear", "a": float(a), "b": float(b)}


def validation_device(requested: str | None, table_device: str) -> str:
    """The device a table named by `--table` is validated on: its own. The band and errors measured
    are stored in the table's metadata, so timing it on another device (`--device` naming another)
    is refused rather than stored as if the table's device had been measured."""
    if requested is not None and requested != table_device:
        raise LatencyTableError(
            f"the table was measured on {table_device!r}: validating it on {requested!r} would store that "
            f"device's errors in its metadata; leave --device out (or give --device {table_device}), or validate "
            f"{requested}'s own table")
    return table_device


def check_split(samples: int, holdout: float) -> float:
    """`holdout`, the share of `samples` held out of a calibration fit, checked before any timing:
    strictly between 0 and 1 (0 would report the fit on the very subnets it was fitted to), and
    leaving at least 2 subnets to fit and 1 to report."""
    h = checks.fraction(holdout, "--holdout")
    n_fit = _n_fit(samples, 1 - h)
    if n_fit < 2 or samples - n_fit < 1:
        raise LatencyTableError(f"--holdout {holdout:g} of {samples} subnets leaves {n_fit} to fit and "
                                f"{samples - n_fit} held out; --calibrate needs at least 2 and 1: "
                                "give more --samples or another --holdout")
    return h


def _n_fit(samples: int, fit_fraction: float) -> int:
    return min(samples, max(2, round(samples * fit_fraction)))


def calibrate_on_split(raw: np.ndarray, measured: np.ndarray, seed: int, fit_fraction: float = 0.5
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """`latency validate --calibrate`'s split and fit: (the subnets fitted on, those held out, the linear
    calibration `measured = a * raw + b` fitted on the first), the split drawn from `seed`."""
    idx = np.random.default_rng(seed + 1).permutation(len(measured))
    n_fit = _n_fit(len(measured), fit_fraction)
    fit, test = np.sort(idx[:n_fit]), np.sort(idx[n_fit:])
    return fit, test, fit_linear(raw[fit], measured[fit])


def measure_subnets(net: Any, spec: Any, batch: FamilyBatch, backend: Any, protocol: Protocol, guard: Any = None,
                    on_session: Callable[[str], None] | None = None,
                    on_export: Callable[[int], None] | None = None, stat: str = "median",
                    int8: Any = None) -> np.ndarray:
    """`stat` (median, p10, ...) in ms of every subnet of `batch`, timed whole (interleaved in one chunk).
    `int8` (`latency.int8.Int8Calibration`): each subnet is quantised to int8 (ONNX) before timing."""
    from .block_models import BlockModel, onnx_bytes

    archs = batch.to_archs()
    if int8 is not None and not backend.needs_onnx:
        raise LatencyTableError("int8 whole subnets are timed as ONNX (onnxruntime, locally or over ssh); "
                                "this device runs .tflite files")
    if backend.capabilities.bundled:  # ssh / adb: one bundle of whole subnets, timed on the device
        remote = [BlockModel(f"subnet{i}", a.r, (1, spec.in_channels, a.r, a.r), module=net.extract(a))
                  for i, a in enumerate(archs)]
        if int8 is not None:  # the bundle writes a model without a module from its ONNX bytes
            for m in remote:
                m.onnx_bytes = int8.quantise_subnet(onnx_bytes(m.module, m.input_shape), m.resolution)
                m.module = None
        if on_export is not None:
            for i in range(len(remote)):
                on_export(i)
        proto = Protocol.from_dict({**protocol.to_dict(), "chunk": len(remote)})
        res = backend.measure_models(remote, proto, on_session)
        return np.array([res[f"subnet{i}"][stat] for i in range(len(archs))])
    with tempfile.TemporaryDirectory(prefix="ofa-validate-") as tmp:
        models: dict[str, BlockModel] = {}
        for i, arch in enumerate(archs):
            sub = net.extract(arch)
            shape = (1, spec.in_channels, arch.r, arch.r)
            m = BlockModel(f"subnet{i}", arch.r, shape, module=sub)
            if backend.needs_onnx:
                path = Path(tmp) / f"{i}.onnx"
                fp32 = onnx_bytes(sub, shape)
                path.write_bytes(fp32 if int8 is None else int8.quantise_subnet(fp32, arch.r))
                m.onnx_path = str(path)
                m.module = None  # free the torch copy: the file is what is timed
            models[m.key] = m
            if on_export is not None:
                on_export(i)
        proto = Protocol.from_dict({**protocol.to_dict(), "chunk": len(models)})
        res = measure(list(models), lambda name: backend.open(models[name]), proto, guard, None, on_session)
    return np.array([res[f"subnet{i}"][stat] for i in range(len(archs))])


def validate(table: LatencyTable, net: Any, backend: Any, samples: int, protocol: Protocol,
             resolutions: Sequence[int] | None = None, seed: int = 0, calibrate: bool = False,
             fit_fraction: float = 0.5, guard: Any = None, on_session: Callable[[str], None] | None = None,
             on_export: Callable[[int], None] | None = None, int8: Any = None) -> dict[str, Any]:
    """Time `samples` random subnets whole and compare them with the table's prediction (an int8
    table's subnets quantised whole with `int8`, a `latency.int8.Int8Calibration`)."""
    checks.count(samples, "--samples", checks.MAX_SUBNETS, 4 if calibrate else 2)
    checks.seed(seed)
    if calibrate:
        check_split(samples, 1 - fit_fraction)
    spec = table.spec
    rs = list(resolutions) if resolutions else list(table.complete_resolutions())
    if not rs:
        raise LatencyTableError(f"table of device {table.device!r} has no complete resolution to validate")
    batch = sample_archs(spec, samples, np.random.default_rng(seed), resolutions=rs)
    raw = table.predict(batch, calibrated=False)  # fails early on a missing key
    # the statistic the table predicts with, so that both sides are summarised alike
    measured = measure_subnets(net, spec, batch, backend, protocol, guard, on_session, on_export, table.stat, int8)
    out: dict[str, Any] = {"device": table.device, "stat": table.stat, "samples": samples, "resolutions": rs, "seed": seed,
                           "archs": [a.to_dict() for a in batch.to_archs()], "raw": raw.tolist(),
                           "measured": measured.tolist()}
    out["raw_all"] = error_metrics(raw, measured)
    if calibrate:
        fit, test, cal = calibrate_on_split(raw, measured, seed, fit_fraction)
        calibrated = apply_calibration(cal, raw)
        out["split"] = ["fit" if i in set(fit.tolist()) else "test" for i in range(samples)]
        out["raw_heldout"] = error_metrics(raw[test], measured[test])
        out["calibrated_heldout"] = error_metrics(calibrated[test], measured[test])
        cal.update({"fitted_on": len(fit), "heldout": out["calibrated_heldout"], "raw_heldout":
                    out["raw_heldout"], "resolutions": rs, "seed": seed})
        out["calibration"] = cal
        out["calibrated"] = calibrated.tolist()
    elif table.calibration is not None:
        calibrated = apply_calibration(table.calibration, raw)
        out["calibrated"] = calibrated.tolist()
        out["calibrated_all"] = error_metrics(calibrated, measured)
    return out


def save_validation(result: dict[str, Any], folder: str | os.PathLike, stem: str = "validation") -> list[Path]:
    """Write `<stem>.csv` (one row per subnet) and `<stem>.png` (predicted vs measured), each
    atomically (a reader, or an interrupted run, never leaves half a file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / f"{stem}.csv"
    n = len(result["measured"])
    split = result.get("split", ["all"] * n)
    cal = result.get("calibrated", [float("nan")] * n)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["arch", "resolution", "predicted_raw_ms", "predicted_calibrated_ms", "measured_ms", "split"])
    for a, p, c, m, s in zip(result["archs"], result["raw"], cal, result["measured"], split):
        genes = " ".join(f"{k}={v}" for k, v in a.items() if k != "r")  # ks/e/d, or a kind's own (d/e/w)
        w.writerow([genes, a["r"], f"{p:.4f}", f"{c:.4f}", f"{m:.4f}", s])
    atomic_write_text(csv_path, buf.getvalue())
    png = folder / f"{stem}.png"
    _scatter(result, png)
    return [csv_path, png]


def _scatter(result: dict[str, Any], path: Path) -> None:
    """validation.png: drawn by `plots.validation_scatter` (the report draws the same picture)."""
    from ..plots import save_png, validation_scatter

    cal = "calibrated" in result
    m = result["measured"]
    metrics = (result.get("calibrated_heldout") or result.get("calibrated_all")) if cal else None
    rs = ", ".join(map(str, result["resolutions"]))
    fig = validation_scatter(result["raw"], m, title=f"{result['device']}: {len(m)} subnets, r {rs}",
                             raw_mape=result["raw_all"]["mape"], calibrated=result.get("calibrated"),
                             heldout=[s != "fit" for s in result.get("split", ["test"] * len(m))] if cal else None,
                             calibrated_mape=metrics["mape"] if metrics else None)
    save_png(fig, path)
