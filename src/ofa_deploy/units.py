"""Budgets as people write them: `22ms`, `0.022s`, `300M`, `0.3G`, `5M`, lists `15ms,20ms`.

Why a parser of our own: the CLI takes budgets in the units of the question being asked ("under
22 ms on the phone", "about 300 MFLOPs"), and a budget must never be read in the wrong unit
silently. Latency is returned in milliseconds; counts (FLOPs, i.e. multiply-accumulates as the
official OFA counter counts them, and parameters) as plain numbers. A top-level module, not in
`search`: `flow` suggests budgets in these units, and `flow` sits below `search`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from .errors import FormatError


class UnitError(FormatError):
    """A budget could not be read (unknown unit, not a number, not positive)."""


# Signs, nan and inf are read here so that they are refused by `_positive` with the reason, not
# as "cannot read".
_NUMBER = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|inf(?:inity)?|nan))"
_LATENCY = re.compile(rf"^\s*{_NUMBER}\s*(ms|s|us|µs|msec|sec)?\s*$", re.IGNORECASE)
_COUNT = re.compile(rf"^\s*{_NUMBER}\s*([kmgbt])?\s*(flops|macs|params)?\s*$", re.IGNORECASE)
_TIME_SCALE = {"ms": 1.0, "msec": 1.0, "s": 1000.0, "sec": 1000.0, "us": 1e-3, "µs": 1e-3}
_COUNT_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


def _positive(value: float, text: str, what: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UnitError(f"{what} budget {text!r} must be a finite number > 0")
    return value


def parse_latency(text: str | float) -> float:
    """Milliseconds from `22ms`, `22 ms`, `0.022s`, `22000us` or a bare number (read as ms)."""
    if isinstance(text, (int, float)):
        return _positive(float(text), str(text), "latency")
    m = _LATENCY.match(str(text))
    if not m:
        raise UnitError(f"cannot read latency {text!r}: write it like 22ms, 0.022s or 22000us")
    unit = (m.group(2) or "ms").lower()
    return _positive(float(m.group(1)) * _TIME_SCALE[unit], str(text), "latency")


def bare_latency_notes(text: str | None) -> list[str]:
    """A bare number is read as milliseconds, and said: `--latency 22` -> `22 ms assumed (write 22ms)`."""
    out = []
    for part in str(text or "").split(","):
        m = _LATENCY.match(part)
        if m and m.group(2) is None:
            out.append(f"--latency {part.strip()}: no unit given, {float(m.group(1)):g} ms assumed (write "
                       f"{part.strip()}ms, or 0.022s)")
    return out


def parse_count(text: str | float, what: str = "count") -> float:
    """A count from `300M`, `0.3G`, `5M`, `450k`, `3e8`, `300MFLOPs` or a plain number."""
    if isinstance(text, (int, float)):
        return _positive(float(text), str(text), what)
    m = _COUNT.match(str(text))
    if not m:
        raise UnitError(f"cannot read {what} {text!r}: write it like 300M, 0.3G, 5M or 450k")
    scale = _COUNT_SCALE[(m.group(2) or "").lower()]
    return _positive(float(m.group(1)) * scale, str(text), what)


def parse_list(text: str, parser: Callable[[str], float]) -> list[float]:
    """Comma-separated budgets (`15ms,20ms,25ms`), each read by `parser`, in the order given."""
    parts = [p for p in str(text).split(",")]
    if not parts or any(not p.strip() for p in parts):
        raise UnitError(f"empty entry in budget list {text!r}")
    return [parser(p) for p in parts]


def format_ms(ms: float) -> str:
    """`22ms`, `22.5ms`, `0.125ms`: a string `parse_latency` reads back to the same value."""
    return f"{ms:.6g}ms"


def format_count(n: float) -> str:
    """`300M`, `1.2G`, `450k`: short, and read back by `parse_count` to within 6 significant digits."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.6g}{suffix}"
    return f"{n:.6g}"
