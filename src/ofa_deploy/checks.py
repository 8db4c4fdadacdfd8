"""Validators for the numbers people type: the one place that says what each kind of value accepts.

Why: a bad number must stop a command before anything is measured, trained or written, with one
line naming the option (or file field) and the range it accepts. Without these, a NaN learning
rate trained to a NaN supernet and exited 0, `--threads -1` was written into a table's metadata
and `--samples 1000000000000` grew memory without end. Every library entry point that takes such
a number calls these on its arguments; the CLI's `run_app` turns the `BadValueError` into one red
line and exit code 2.

Each validator returns the value as an `int` or `float` (so a call reads
`n = count(n, "--samples", MAX_SUBNETS)`) and raises `BadValueError` otherwise. `None` means "not
given": it is refused unless the call says `optional=True`, and then it is returned unchanged;
0 never stands for "not given". Booleans are not numbers here (`batch_size: true` is a mistake).
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import Any

from .errors import BadValueError

# Caps: what one run may ask for. They keep a typo (an extra three zeros) from growing memory or
# running for weeks; a larger job is several runs (datasets resume, tables resume).
MAX_SEED = 2**32 - 1           # numpy, torch and Python's random all take seeds in [0, 2**32)
MAX_THREADS = 1024
MAX_SUBNETS = 100_000          # subnets sampled by `predictor dataset` and `latency validate`
MAX_POINTS = 1000              # budgets of one `search --pareto` sweep (about a second each)
MAX_SESSIONS = 1000            # fresh sessions per timed entry
MAX_RUNS = 1_000_000           # timed runs per session
MAX_IMAGES = 100_000           # images of one evaluation or BN recalibration (ImageNet's val: 50,000)
MAX_VERIFY_IMAGES = 10_000     # images an export is verified on, all held in memory at once
MAX_EVOLUTION = 1_000_000      # population and generations of one search
MAX_BATCH = 1_000_000          # images of one training step
MAX_WIDTH = 10.0               # width multiplier of a space (the official ones are 1.0 and 1.2)
MAX_CLASSES = 1_000_000
MAX_IN_CHANNELS = 1024
MAX_RESOLUTION = 4096          # input side in pixels (the official space stops at 224)


def _range_text(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return ""


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def integer(value: Any, name: str, lo: int | None = None, hi: int | None = None, *,
            optional: bool = False) -> int | None:
    """An integer in [lo, hi] (either bound may be left out). Integral floats (32.0) are accepted."""
    if value is None and optional:
        return None
    bounds = " and ".join(b for b in (f"at least {lo}" if lo is not None else "",
                                        f"at most {hi}" if hi is not None else "") if b)
    whole = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if (isinstance(value, Integral) and not isinstance(value, bool)) or whole:
        n = int(value)
    else:
        raise BadValueError(f"{name} must be an integer{' ' + bounds if bounds else ''}, got {_shown(value)}")
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise BadValueError(f"{name} must be {bounds}, got {n}")
    return n


def number(value: Any, name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, optional: bool = False) -> float | None:
    """A finite number in the range given (bounds closed unless `lo_open` / `hi_open`). Strings
    that read as numbers are accepted: YAML 1.1 reads `1e-3` as a string."""
    if value is None and optional:
        return None
    wanted = f"{name} must be a finite number {_range_text(lo, hi, lo_open, hi_open)}".rstrip()
    if isinstance(value, bool) or value is None:
        raise BadValueError(f"{wanted}, got {_shown(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadValueError(f"{wanted}, got {_shown(value)}") from None
    if not math.isfinite(x):
        raise BadValueError(f"{wanted}, got {x}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise BadValueError(f"{wanted}, got {x:g}")
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise BadValueError(f"{wanted}, got {x:g}")
    return x


def positive(value: Any, name: str, *, optional: bool = False) -> float | None:
    """A finite number > 0 (widths, learning rates, budgets)."""
    return number(value, name, 0, lo_open=True, optional=optional)


def fraction(value: Any, name: str, *, zero: bool = False, one: bool = False) -> float:
    """A fraction in (0, 1); `zero` / `one` admit the ends where they mean something."""
    x = number(value, name, 0, 1, lo_open=not zero, hi_open=not one)
    assert x is not None
    return x


def count(value: Any, name: str, cap: int, lo: int = 1, *, optional: bool = False) -> int | None:
    """How many of something (samples, sessions, images, points): an integer in [lo, cap]."""
    return integer(value, name, lo, cap, optional=optional)


def seed(value: Any, name: str = "--seed") -> int:
    """A random seed every generator we use accepts: an integer in [0, 2**32 - 1]."""
    n = integer(value, name, 0, MAX_SEED)
    assert n is not None
    return n


def threads(value: Any, name: str = "--threads") -> int | None:
    """A thread count >= 1; None (not given) keeps the default of whoever asked."""
    return integer(value, name, 1, MAX_THREADS, optional=True)


def protocol_options(sessions: Any, max_runs: Any, seed_value: Any = 0) -> tuple[int, int, int]:
    """The timing options shared by `profile`, `latency validate` and `benchmark`."""
    s = count(sessions, "--sessions", MAX_SESSIONS)
    m = count(max_runs, "--max-runs", MAX_RUNS)
    assert s is not None and m is not None
    return s, m, seed(seed_value)


def space_options(width: Any = None, classes: Any = None, in_channels: Any = None) -> None:
    """The options that describe a space (`--width`, `--classes`, `--in-channels`), each optional."""
    number(width, "--width", 0, MAX_WIDTH, lo_open=True, optional=True)
    integer(classes, "--classes", 1, MAX_CLASSES, optional=True)
    integer(in_channels, "--in-channels", 1, MAX_IN_CHANNELS, optional=True)


__all__ = [
    "MAX_BATCH", "MAX_CLASSES", "MAX_EVOLUTION", "MAX_IMAGES", "MAX_IN_CHANNELS", "MAX_POINTS",
    "MAX_RESOLUTION", "MAX_RUNS", "MAX_SEED", "MAX_SESSIONS", "MAX_SUBNETS", "MAX_THREADS",
    "MAX_VERIFY_IMAGES", "MAX_WIDTH", "count", "fraction", "integer", "number", "positive",
    "protocol_options", "seed", "space_options", "threads",
]
