"""Is the int8 file faster than the fp32 file of the same format? The verdict export prints (issue 29, item 2).

An int8 file only pays if it runs faster (or is smaller) where it ships. `devices.speed.compare_speed`
times both files (`export` may not import `devices`: `run_export` takes it as its `timer`); `verdict`
turns its result into the one line export prints, with the measured numbers, when int8 is not faster
or when the builtin kernels beat XNNPACK (this CPU's 7x7 depthwise). The figures go into the report.
"""

from __future__ import annotations

from typing import Any


def verdict(speed: dict[str, Any], int8_bytes: int, fp32_bytes: int) -> str | None:
    """None when int8 is faster (and XNNPACK is not beaten by the builtin kernels); else one line with the
    measured numbers."""
    b = speed.get("builtin")
    builtin = (f"without XNNPACK (delegate: none) int8 {b['int8_ms']:.3f} ms, fp32 {b['fp32_ms']:.3f} ms "
               "(XNNPACK's 7x7 depthwise is slow here)") if b else ""
    beaten = bool(b) and min(b.values()) < 0.8 * min(speed["int8_ms"], speed["fp32_ms"])
    if speed["int8_ms"] < speed["fp32_ms"]:
        if not beaten:
            return None
        return (f"this subnet runs faster without XNNPACK on this CPU: with it int8 {speed['int8_ms']:.3f} ms, fp32 "
                f"{speed['fp32_ms']:.3f} ms; {builtin}")
    smaller = f"only smaller ({int8_bytes / fp32_bytes:.2f}x the size)" if int8_bytes < fp32_bytes else "not smaller"
    line = (f"int8 is not faster than fp32 for this subnet on this CPU: {speed['int8_ms']:.3f} ms against "
            f"{speed['fp32_ms']:.3f} ms ({speed['runtime']}, batch 1, {speed['threads']} thread); it is {smaller}")
    return line + (f"; {builtin}" if beaten else "")


__all__ = ["verdict"]
