"""An export report (`export.report`) as the rows `ofa-deploy export` prints: what was exported
(size, subnet, input, BN statistics, the images it was verified and calibrated on, the int8
record and timing) and the labels of the verification metrics, in their order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .verify import format_value

__all__ = ["METRIC_LABELS", "format_value", "int8_rows", "report_rows"]

METRIC_LABELS = {
    "max_abs_diff": "max |diff|", "logit_scale": "logit scale (max |logit|)",
    "max_abs_diff_rel": "max |diff| / logit scale", "rel_diff_p99": "max |diff| / image's scale, p99",
    "rel_diff_max": "max |diff| / image's scale, max", "top1_agreement": "top-1 agreement %",
    "top1_agreement_decisive": "top-1 agreement beyond ties %",
    "fp64_error_ratio": "distance from fp64 / PyTorch's",
    "sqnr_db": "SQNR dB", "accuracy_torch": "accuracy, PyTorch fp32 %",
    "accuracy_file": "accuracy, this file %", "accuracy_drop": "accuracy drop (points)",
    "size_ratio": "size / fp32 size"}


def report_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's description rows (name, text), before its metrics."""
    from ..space import spec_from_dict
    from ..space.formats import arch_of_space

    v = r["verification"]
    size = f"{r['size_bytes'] / 1e6:.2f} MB"
    if r.get("fp32_size_bytes"):
        size += f" (fp32 {r['fp32_size_bytes'] / 1e6:.2f} MB)"
    sub = r["subnet"]
    inp = r["input"]
    quant = inp.get("quantization")
    rows: list[tuple[str, str]] = [
        ("size", size),
        ("params / MACs", f"{sub['params'] / 1e6:.3f} M / {sub['macs'] / 1e6:.1f} M"),
        ("subnet", (f"{arch_of_space(spec_from_dict(sub['space']), sub['arch']).short()}  "
                    f"({Path(sub['path']).name})")),
        ("input", f"{inp['shape']} {inp['dtype']}" + (f" (scale {quant['scale']:.4g}, zero point {quant['zero_point']})"
                                                      if quant else "")),
        ("BN statistics", (f"recalibrated on {r['bn']['images']} images at r={r['bn']['resolution']} "
                           f"(batch {r['bn']['batch']}, {r['bn']['preprocessing']}), " if r["bn"]["recalibrated"]
                           else "") + r["bn"]["source"]),
        ("verified on", f"{v['images']} images, {v['source']}"
         + (f" ({v['preprocessing']} at r={v['resolution']})"  # random images: said once, in the source
            if v.get("preprocessing") and not v["preprocessing"].startswith("none") else f" at r={v['resolution']}")),
    ]
    if r.get("calibration"):
        c = r["calibration"]
        rows.append(("int8 calibration", f"{c['images']} images at r={c['resolution']}, {c['source']}"))
    rows += int8_rows(r)
    if r.get("skipped_images"):
        rows.append(("skipped images", f"{r['skipped_images']} unreadable (--skip-bad-images)"))
    return rows


def int8_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The accuracy-controlled int8 record and the int8-vs-fp32 timing, as report rows."""
    from .int8 import short_name

    rows: list[tuple[str, str]] = []
    q = r.get("int8")
    if q:
        kept = q["kept_float"]
        acc = [k for k in kept if k["why"].startswith("accuracy")]
        rows.append(("ops kept float", f"{len(kept)} ({q['kept_float_for_speed']} for speed, {len(acc)} for accuracy "
                                       f"of {q['quantised_ops_ranked']} ranked)" if q["quantised_ops_ranked"]
                     else f"{len(kept)} (for speed: " + ", ".join(sorted({k['kind'] for k in kept})) + ")"
                     if kept else "none"))
        for k in acc[:8]:
            rows.append(("  kept float", f"{k['kind']} {short_name(k['name'])}"))
        if q.get("drop") is not None:
            rows.append(("int8 drop (search)", (f"{q['drop']:.2f} points (limit {q['max_drop']:g}), "
                                                f"{len(q['tries'])} quantisations")))
        if q.get("second_calibration_drop") is not None:
            rows.append(("2nd calibration drop", f"{q['second_calibration_drop']:.2f} points (disjoint images)"))
        if q.get("note"):
            rows.append(("int8 note", q["note"]))
    sp = r.get("speed")
    if sp:
        rows.append(("int8 vs fp32 time", (f"{sp['int8_ms']:.3f} ms vs {sp['fp32_ms']:.3f} ms ({sp['runtime']}, "
                                           f"{sp['fp32_ms'] / sp['int8_ms']:.2f}x)")))
    return rows
