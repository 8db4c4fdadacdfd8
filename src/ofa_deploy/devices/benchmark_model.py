"""TFLite's `benchmark_model` and `adb`: the commands we run and pure parsers of what they print.

Following nn-Meter's split, the adb backend only runs commands and returns their text; every
number is read here by pure functions that the tests pin down on recorded outputs (the format of
`tensorflow/lite/tools/benchmark`, with and without the `INFO: ` log prefix of newer builds).

What `benchmark_model` prints (abridged):

    Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
    count=57 first=18631 curr=8792 min=8706 max=18631 avg=8810.65 std=1305
    Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
    count=114 first=8808 curr=8744 min=8704 max=8956 avg=8783.48 std=38
    Inference timings in us: Init: 3074, First inference: 18631, Warmup (avg): 8810.65, Inference (avg): 8783.48

and, with `--enable_op_profiling=true`, "Run Order" tables of per-operator times (ms). The
timings line is in microseconds; everything returned here is in milliseconds.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import DeviceError, FormatError
from ..latency.protocol import quantile

DELEGATE_FLAGS = {"xnnpack": "--use_xnnpack=true", "gpu": "--use_gpu=true", "nnapi": "--use_nnapi=true",
                  "hexagon": "--use_hexagon=true", "none": "--use_xnnpack=false", "cpu": "--use_xnnpack=false"}

_STAT = re.compile(r"(?:^|\s)count=(\d+)(.*)$")
_KV = re.compile(r"(\w+)=(-?[\d.eE+-]+)")
_TIMINGS = re.compile(r"Inference timings in us:\s*(.*)$")
_AVG_TIMINGS = re.compile(r"Average inference timings in us:\s*(.*)$")
_RUNNING = re.compile(r"Running benchmark for at least (\d+) iterations")
_ERRORS = ("Failed to", "failed to", "ERROR:", "Error:", "Aborted", "Segmentation fault", "not found",
           "Permission denied", "cannot execute", "Unable to")


@dataclass(frozen=True)
class RunStats:
    """One `count=... first=... curr=... min=... max=... avg=... std=...` line, in ms."""

    count: int
    avg: float
    std: float
    min: float
    max: float
    first: float | None = None


@dataclass(frozen=True)
class OpTime:
    """One row of the op-profiling "Run Order" table (times in ms)."""

    node_type: str
    name: str
    first_ms: float
    avg_ms: float
    percent: float
    times_called: int


@dataclass
class BenchmarkResult:
    """What one `benchmark_model` run reported."""

    inference: RunStats               # the regular runs
    warmup: RunStats | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    ops: list[OpTime] = field(default_factory=list)


def _clean(line: str) -> str:
    """Drop the log prefixes newer builds add (`INFO: `, `I0612 12:00:00.1 123 file.cc:45] `)."""
    line = line.strip()
    line = re.sub(r"^(INFO|WARNING|VERBOSE):\s*", "", line)
    line = re.sub(r"^[IWE]\d{4} [\d:.]+\s+\d+\s+\S+\]\s*", "", line)
    return line


def parse_stat_line(line: str) -> RunStats | None:
    """A `count=...` line (also `count=5 curr=120(all same)`); None if the line is not one."""
    m = _STAT.search(_clean(line))
    if not m:
        return None
    count = int(m.group(1))
    kv = {k: float(v) for k, v in _KV.findall(m.group(2))}
    if count == 0:
        return None
    if "avg" not in kv:  # "(all same)": every run took `curr`
        cur = kv.get("curr")
        if cur is None:
            return None
        return RunStats(count, cur / 1e3, 0.0, cur / 1e3, cur / 1e3, cur / 1e3)
    return RunStats(count, kv["avg"] / 1e3, kv.get("std", 0.0) / 1e3, kv.get("min", kv["avg"]) / 1e3,
                    kv.get("max", kv["avg"]) / 1e3, kv["first"] / 1e3 if "first" in kv else None)


def _timings(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        k, sep, v = part.partition(":")
        if sep:
            try:
                out[k.strip().lower()] = float(v.strip())
            except ValueError:
                continue
    return out


def parse_benchmark_output(text: str) -> BenchmarkResult:
    """Read one `benchmark_model` output. Raises `FormatError` quoting the tool's own complaint
    when it printed no timings (model not found, delegate refused, crash)."""
    warmup = inference = None
    timings: dict[str, float] = {}
    phase = None
    stats: list[tuple[int | None, RunStats]] = []
    for raw in text.splitlines():
        line = _clean(raw)
        m = _RUNNING.search(line)
        if m:
            phase = int(m.group(1))
            continue
        if line.startswith(("Timings (microseconds)", "Memory (bytes)")):
            continue  # the op-profiling summary repeats the run stats; the plain lines are read
        st = parse_stat_line(line)
        if st is not None:
            stats.append((phase, st))
            continue
        m = _TIMINGS.search(line) or _AVG_TIMINGS.search(line)
        if m and not timings:
            timings = _timings(m.group(1))
    if len(stats) >= 2:
        warmup, inference = stats[-2][1], stats[-1][1]
    elif stats:
        inference = stats[-1][1]
    avg_us = timings.get("inference (avg)", timings.get("inference"))
    if inference is None and avg_us is not None:
        inference = RunStats(0, avg_us / 1e3, math.nan, math.nan, math.nan)
    if inference is None:
        raise FormatError(f"benchmark_model printed no timings: {benchmark_failure(text)}")
    if avg_us is not None and inference.count and abs(avg_us / 1e3 - inference.avg) > 1e-3 * max(1.0, avg_us / 1e3):
        # The summary line is authoritative for the mean; keep the spread of the stats line.
        inference = RunStats(inference.count, avg_us / 1e3, inference.std, inference.min, inference.max,
                             inference.first)
    init = timings.get("init")
    first = timings.get("first inference")
    return BenchmarkResult(inference, warmup, init / 1e3 if init is not None else None,
                           first / 1e3 if first is not None else None, parse_op_profile(text))


def benchmark_failure(text: str) -> str:
    """The lines of a failed run worth showing (the tool's errors, else its last lines)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    bad = [ln for ln in lines if any(e in ln for e in _ERRORS)]
    shown = (bad or lines)[-3:]
    return " | ".join(shown) if shown else "it printed nothing"


def parse_op_profile(text: str) -> list[OpTime]:
    """Per-operator times of the regular runs (the last "Run Order" table), [] without profiling."""
    lines = [_clean(x) for x in text.splitlines()]
    starts = [i for i, ln in enumerate(lines) if "Run Order" in ln and ln.startswith("=")]
    regular = [i for i, ln in enumerate(lines) if "Regular Benchmark Runs" in ln]
    if not starts:
        return []
    if regular:
        after = [i for i in starts if i > regular[-1]]
        start = after[0] if after else starts[-1]
    else:
        start = starts[-1]
    header_i = start + 1
    while header_i < len(lines) and not lines[header_i].startswith("["):
        header_i += 1
    if header_i >= len(lines):
        return []
    cols = [c.strip().lower() for c in re.findall(r"\[([^\]]+)\]", lines[header_i])]
    ops = []
    for raw in text.splitlines()[header_i + 1:]:
        line = _clean(raw)
        if not line or line.startswith("="):
            break
        cells = [c.strip() for c in re.split(r"\t+|\s{2,}", line) if c.strip()]
        if len(cells) < len(cols):
            continue
        if len(cells) > len(cols):  # a name with double spaces: join the tail back
            cells = cells[:len(cols) - 1] + [" ".join(cells[len(cols) - 1:])]
        row = dict(zip(cols, cells))
        try:
            ops.append(OpTime(
                node_type=row["node type"],
                name=re.sub(r"^\[(.*)\](:\d+)?$", r"\1", row.get("name", "")),
                first_ms=float(row.get("first", "nan")),
                avg_ms=float(row["avg ms"]),
                percent=float(row.get("%", "nan").rstrip("%")),
                times_called=int(float(row.get("times called", "0"))),
            ))
        except (KeyError, ValueError):
            continue
    return ops


# ---- pooling sessions ---------------------------------------------------------------------------
def pool_sessions(results: Sequence[BenchmarkResult]) -> dict[str, float]:
    """Table statistics (ms) from several sessions (runs of the tool) of one entry.

    benchmark_model reports each session's mean and spread, not its single runs, so: `count` and
    `mean` are over all runs, `std` is the pooled standard deviation (within and between sessions),
    `median` is the median of the session means (robust to one disturbed session), and p10 / p90
    are unknown (NaN)."""
    if not results:
        raise ValueError("no benchmark results to pool")
    stats = [r.inference for r in results]
    counts = [max(s.count, 1) for s in stats]
    n = sum(counts)
    mean = sum(c * s.avg for c, s in zip(counts, stats)) / n
    var = sum(c * ((s.std if math.isfinite(s.std) else 0.0) ** 2 + (s.avg - mean) ** 2)
              for c, s in zip(counts, stats)) / n
    avgs = sorted(s.avg for s in stats)
    median = quantile(avgs, 0.5)  # the protocol's median, of session means
    return {"count": sum(s.count for s in stats) or len(avgs), "mean": mean, "median": median, "std": math.sqrt(var),
            "p10": math.nan, "p90": math.nan}


# ---- commands -----------------------------------------------------------------------------------
def cpu_mask(cores: Sequence[int]) -> str:
    """taskset's hexadecimal affinity mask of CPU ids (`[4, 5, 6, 7]` -> `f0`)."""
    mask = 0
    for c in cores:
        if int(c) < 0:
            raise DeviceError(f"CPU id {c} is negative")
        mask |= 1 << int(c)
    return format(mask, "x")


def benchmark_command(binary: str, graph: str, threads: int, runs: int, warmup: int,
                      delegate: str | None = None, cores: Sequence[int] | None = None,
                      op_profiling: bool = False, max_secs: float = 150.0) -> str:
    """The shell command (run on the device) that times one model once: one session."""
    if delegate is not None and delegate not in DELEGATE_FLAGS:
        raise DeviceError(f"delegate {delegate!r} is not one of {', '.join(DELEGATE_FLAGS)}")
    args = [binary, f"--graph={graph}", f"--num_threads={threads}", f"--num_runs={runs}", "--min_secs=0",
            f"--max_secs={max_secs:g}", f"--warmup_runs={warmup}", "--warmup_min_secs=0"]
    if delegate is not None:
        args.append(DELEGATE_FLAGS[delegate])
    if op_profiling:
        args.append("--enable_op_profiling=true")
    cmd = " ".join(shlex.quote(a) for a in args)
    if cores:
        cmd = f"taskset {cpu_mask(cores)} {cmd}"
    return cmd + " 2>&1"


# ---- adb ----------------------------------------------------------------------------------------
def parse_adb_devices(text: str) -> list[tuple[str, str]]:
    """(serial, state) of every line of `adb devices` (states: device, offline, unauthorized...)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("*", "List of devices")):
            continue
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


def parse_temperatures(text: str) -> list[float]:
    """Degrees Celsius from `cat /sys/class/thermal/thermal_zone*/temp` (millidegrees on most
    kernels, degrees on some); unreadable zones and absurd values are skipped."""
    temps = []
    for tok in text.split():
        try:
            v = float(tok)
        except ValueError:
            continue
        c = v / 1000.0 if abs(v) >= 1000 else v
        if -40.0 <= c <= 150.0:
            temps.append(c)
    return temps


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` listing (`[ro.product.model]: [Pixel 4]`) to a dict."""
    out = {}
    for m in re.finditer(r"^\[([^\]]+)\]:\s*\[(.*)\]\s*$", text, re.MULTILINE):
        out[m.group(1)] = m.group(2)
    return out


def parse_tagged(text: str) -> dict[str, str]:
    """Lines `@name value` (what the adb backend's one probe command echoes) to a dict."""
    out = {}
    for line in text.splitlines():
        if line.startswith("@"):
            k, _, v = line[1:].partition(" ")
            out[k] = v.strip()
    return out
