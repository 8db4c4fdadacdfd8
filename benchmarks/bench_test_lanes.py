"""Test-lane timings (issue 24 item 6: `make test-fast` <= 3 min, `make test` <= 10 min idle):
runs one lane of the suite once with every duration reported, then prints the wall time, the
slowest tests (setup and call apart), and the seconds spent per test file.

    python benchmarks/bench_test_lanes.py                    # the fast lane: not slow and not board
    python benchmarks/bench_test_lanes.py --lane all         # what `make test` runs
    python benchmarks/bench_test_lanes.py --lane slow --top 15
    python benchmarks/bench_test_lanes.py tests/test_faults.py tests/test_trust.py
    python benchmarks/bench_test_lanes.py --jobs 0           # serially, in one process (the "before" of xdist)

`--jobs` is pytest-xdist's `-n` (default `auto`, one worker per core, with `--dist loadfile --no-loadscope-reorder`, as the
Makefile runs it; `0` runs in one process). The per-file seconds add up every worker's time.

Measure on an idle machine: with other jobs running, times grow 2-4x and unevenly.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
LANES = {"fast": "not slow and not board", "slow": "slow and not board", "all": None}
LINE = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)")


def run_lane(lane: str, paths: list[str], jobs: str = "auto") -> tuple[float, str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "--durations=0", "--durations-min=0", "-p", "no:cacheprovider",
           "-n", jobs, "--dist", "loadfile", "--no-loadscope-reorder"]
    if LANES[lane]:
        cmd += ["-m", LANES[lane]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    t = time.perf_counter()
    p = subprocess.run([*cmd, *paths], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 5):
        print(p.stdout[-3000:], p.stderr[-2000:], sep="\n")
    return wall, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="test files or node ids (default: the whole lane)")
    ap.add_argument("--lane", choices=sorted(LANES), default="fast")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--jobs", default="auto", help="pytest-xdist workers (-n): auto, a number, or 0 for none")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    wall, out = run_lane(a.lane, a.paths, a.jobs)
    rows = [(float(m[1]), m[2], m[3]) for m in map(LINE.match, out.splitlines()) if m]
    summary = next((line for line in reversed(out.splitlines()) if " in " in line and "passed" in line), "")
    console = Console()
    console.print(f"lane {a.lane} ({LANES[a.lane] or 'everything'}), -n {a.jobs}: {summary.strip('= ')}; wall "
                  f"{wall:.1f} s, {os.cpu_count()} CPUs, load {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    top = Table(title=f"slowest {a.top}")
    for col in ("s", "phase", "test"):
        top.add_column(col, justify="right" if col == "s" else "left")
    for s, phase, node in sorted(rows, reverse=True)[:a.top]:
        top.add_row(f"{s:.2f}", phase, node)
    console.print(top)
    per_file: dict[str, float] = collections.defaultdict(float)
    for s, _, node in rows:
        per_file[node.split("::")[0]] += s
    files = Table(title="seconds per file (setup + call + teardown)")
    files.add_column("s", justify="right")
    files.add_column("file")
    for f, s in sorted(per_file.items(), key=lambda kv: -kv[1]):
        files.add_row(f"{s:.1f}", f)
    console.print(files)


if __name__ == "__main__":
    main()
