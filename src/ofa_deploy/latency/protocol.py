"""The one latency-measurement protocol every backend uses (local CPU, CUDA, SSH, adb runners).

Standard library only, so that this file can be copied as-is next to a standalone runner on a
device (a Raspberry Pi, a phone's Python) and measure exactly as we do here.

Why it looks like this (see LATENCY_NOTES: measured on this CPU):
- one session per model is not enough (session-to-session spread of about +-6 %): every entry
  is timed in `sessions` fresh sessions and the samples are pooled;
- background load must hit every entry alike: entries are processed in chunks, and within a chunk
  the sessions of all entries are interleaved in a shuffled order, round after round;
- a session stops early once the median is stable (relative 95 % CI half-width of the median below
  `rel_ci`) and never runs more than `max_runs`;
- statistics are robust (median, p10, p90) with mean and std kept for the official format;
- a `Guard` runs before each session; `ThermalGuard` (the SSH runner's and the adb backend's)
  waits while the SoC is hotter than `max_temp_c`, and what it reports is kept;
- a backend whose tool times a whole session itself (adb's `benchmark_model` reports one session's
  average, not single runs) plugs into the same loop (`measure_sessions`): the same interleaving,
  guard and per-chunk writes, with its own pooling of session results; `time_session`'s early stop
  cannot apply there (the tool runs its `max_runs`), and its statistics are session means.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Protocol:
    """How one entry (a block or a whole model) is timed."""

    warmup: int = 10          # untimed runs at the start of every session
    min_runs: int = 20        # timed runs before the stability test may stop a session
    max_runs: int = 200       # cap of timed runs per session
    check_every: int = 10     # runs between two stability tests
    rel_ci: float = 0.02      # stop when the median's 95 % CI half-width / median is below this
    sessions: int = 3         # fresh sessions per entry, samples pooled
    chunk: int = 16           # entries interleaved together (and written when the chunk ends)
    seed: int = 0             # shuffling of the interleaved order

    def __post_init__(self) -> None:
        if self.warmup < 0 or self.min_runs < 1 or self.max_runs < self.min_runs or self.check_every < 1:
            raise ValueError("protocol needs warmup >= 0, 1 <= min_runs <= max_runs, check_every >= 1")
        if self.sessions < 1 or self.chunk < 1 or not 0 < self.rel_ci < 1:
            raise ValueError("protocol needs sessions >= 1, chunk >= 1 and 0 < rel_ci < 1")

    @classmethod
    def for_runs(cls, sessions: int = 3, max_runs: int = 200, seed: int = 0) -> Protocol:
        """The protocol of the commands' `--sessions` / `--max-runs` options: the stability test may
        stop a session after the default `min_runs` (20) runs, or after all of them when `max_runs` is
        smaller. Raises ValueError on counts no protocol takes (as the constructor)."""
        return cls(sessions=sessions, max_runs=max_runs, min_runs=min(cls.min_runs, max_runs), seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class Guard:
    """Hook run before every timed session. The default does nothing; remote backends subclass it
    (read the SoC temperature and wait below a threshold, check the CPU frequency governor...).
    `before` returns a small dict of readings (or None) that the caller may log."""

    def before(self, name: str) -> dict[str, Any] | None:
        return None

    def after(self, name: str) -> None:
        return None


class ThermalGuard(Guard):
    """Before each session, read the SoC's temperature; above `max_temp_c`, sleep (`poll_s`) until it
    is at or below `resume_temp_c` (default: 5 degrees lower) or `max_wait_s` have passed.

    `settings`: the descriptor's `guard:` mapping (`max_temp_c`, `resume_temp_c`, `poll_s`,
    `max_wait_s`); `read_temps()` returns the zones' temperatures in degrees C (the runner reads
    `/sys/class/thermal` files, the adb backend `cat`s them through `adb shell`); `report(dict)`
    hears about every wait. `summary()` is what the table's metadata keeps."""

    def __init__(self, settings: dict[str, Any], read_temps: Callable[[], Sequence[float]],
                 report: Callable[[dict[str, Any]], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.read_temps, self.report = read_temps, report or (lambda _: None)
        self.sleep, self.clock = sleep, clock
        self.limit = settings.get("max_temp_c")
        self.resume = settings.get("resume_temp_c", self.limit - 5 if self.limit is not None else None)
        self.poll, self.max_wait = float(settings.get("poll_s", 5)), float(settings.get("max_wait_s", 300))
        self.first = self.last = self.peak = None
        self.waits, self.waited_s, self.gave_up = 0, 0.0, 0

    def _read(self) -> float | None:
        temps = self.read_temps()
        t = max(temps) if temps else None
        if t is not None:
            self.first = t if self.first is None else self.first
            self.peak = t if self.peak is None else max(self.peak, t)
            self.last = t
        return t

    def before(self, name: str) -> dict[str, Any] | None:
        t = self._read()
        if self.limit is None or t is None or t <= self.limit:
            return {"temp_c": t}
        t0 = self.clock()
        while t is not None and t > self.resume and self.clock() - t0 < self.max_wait:
            self.sleep(self.poll)
            t = self._read()
        waited = self.clock() - t0
        self.waits += 1
        self.waited_s += waited
        hot = t is not None and t > self.resume
        self.gave_up += int(hot)
        self.report({"t": "guard", "n": name, "waited_s": round(waited, 1), "temp_c": t, "gave_up": hot})
        return {"temp_c": t, "waited_s": waited}

    def summary(self) -> dict[str, Any]:
        return {"temp_start_c": self.first, "temp_max_c": self.peak, "temp_end_c": self.last,
                "cooldown_waits": self.waits, "cooldown_s": round(self.waited_s, 1),
                "cooldown_gave_up": self.gave_up, "max_temp_c": self.limit}


# ---- statistics -------------------------------------------------------------------------------
def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values (numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def median_rel_ci(samples: Sequence[float], z: float = 1.96) -> float:
    """Half-width of the distribution-free CI of the median (order statistics), over the median."""
    s = sorted(samples)
    n = len(s)
    if n < 3:
        return math.inf
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    med = quantile(s, 0.5)
    return (s[hi] - s[lo]) / 2 / med if med > 0 else math.inf


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """count, mean, median, std, p10, p90 of samples in ms."""
    s = sorted(samples)
    if not s:
        raise ValueError("no samples")
    return {
        "count": len(s),
        "mean": statistics.fmean(s),
        "median": quantile(s, 0.5),
        "std": statistics.pstdev(s) if len(s) > 1 else 0.0,
        "p10": quantile(s, 0.1),
        "p90": quantile(s, 0.9),
    }


# ---- timing -------------------------------------------------------------------------------------
def time_session(run: Runner, protocol: Protocol, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Warm up, then time `run` until the median is stable or `max_runs` is reached. ms per run."""
    for _ in range(protocol.warmup):
        run()
    samples: list[float] = []
    while len(samples) < protocol.max_runs:
        for _ in range(min(protocol.check_every, protocol.max_runs - len(samples))):
            t0 = clock()
            run()
            samples.append((clock() - t0) * 1e3)
        if len(samples) >= protocol.min_runs and median_rel_ci(samples) <= protocol.rel_ci:
            break
    return samples


def session_order(names: Sequence[str], protocol: Protocol) -> Iterator[tuple[list[str], list[str]]]:
    """The interleaving every backend follows: entries in chunks of `protocol.chunk`; per chunk,
    `protocol.sessions` rounds, each a seeded shuffle of the chunk. Yields (chunk, sessions in order)."""
    rng = random.Random(protocol.seed)
    names = list(names)
    for start in range(0, len(names), protocol.chunk):
        chunk = names[start:start + protocol.chunk]
        order: list[str] = []
        for _ in range(protocol.sessions):
            round_ = list(chunk)
            rng.shuffle(round_)
            order += round_
        yield chunk, order


def measure_sessions(
    names: Sequence[str],
    run_session: Callable[[str], Any],
    pool: Callable[[list[Any]], dict[str, float]],
    protocol: Protocol,
    guard: Guard | None = None,
    on_entry: Callable[[str, dict[str, float]], None] | None = None,
    on_session: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """The loop every backend follows: sessions in `session_order`, the guard around each,
    `run_session(name)` -> that session's result, `pool(results of one entry)` -> its statistics
    when its chunk ends, then `on_entry(name, stats)`; `on_session(name)` after every session."""
    guard = guard or Guard()
    results: dict[str, dict[str, float]] = {}
    for chunk, order in session_order(names, protocol):
        pooled: dict[str, list[Any]] = {n: [] for n in chunk}
        for name in order:
            guard.before(name)
            pooled[name].append(run_session(name))
            guard.after(name)
            if on_session is not None:
                on_session(name)
        for name in chunk:
            results[name] = pool(pooled[name])
            if on_entry is not None:
                on_entry(name, results[name])
    return results


def measure(
    names: Sequence[str],
    open_session: Callable[[str], Runner],
    protocol: Protocol,
    guard: Guard | None = None,
    on_entry: Callable[[str, dict[str, float]], None] | None = None,
    on_session: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, dict[str, float]]:
    """Time every entry in `protocol.sessions` fresh sessions, interleaved in shuffled order.

    `open_session(name)` must return a new runner (a fresh runtime session) each time it is
    called. `on_entry(name, stats)` is called as soon as an entry's last session ends (write its
    row there: an interruption then loses at most one chunk); `on_session(name)` after every
    session (progress bars). Statistics: `summarize` of every session's samples pooled.
    """
    def run_session(name: str) -> list[float]:
        run = open_session(name)
        samples = time_session(run, protocol, clock)
        del run  # the session ends before the next one opens
        return samples

    return measure_sessions(names, run_session, lambda sessions: summarize([x for s in sessions for x in s]),
                            protocol, guard, on_entry, on_session)


def session_count(n_entries: int, protocol: Protocol) -> int:
    """How many sessions `measure` opens for `n_entries` entries (progress-bar totals)."""
    return n_entries * protocol.sessions
