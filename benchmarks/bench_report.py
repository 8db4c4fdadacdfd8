"""The HTML report: how long `ofa-deploy report` takes to write, how big the page is, and how long
headless Chromium takes to load and render it (the issue's targets: <= 2 s to open, <= 2 MB).

Reads the flow recorded in $OFA_DEPLOY_HOME (default: runs/demo/home, what `make demo` leaves);
run `make demo` first. Prints one table.

    python benchmarks/bench_report.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    home = os.environ.get("OFA_DEPLOY_HOME", str(ROOT / "runs" / "demo" / "home"))
    if not (Path(home) / "records" / "last_search.json").is_file():
        print(f"bench_report: skipped, no flow recorded in {home} (run `make demo` first, or set OFA_DEPLOY_HOME)")
        return  # `make bench` goes on
    os.environ["OFA_DEPLOY_HOME"] = home
    from ofa_deploy.report import write_report

    out = Path(tempfile.mkdtemp()) / "report.html"
    write_s = []
    for _ in range(runs):
        t0 = time.perf_counter()
        write_report(out)
        write_s.append(time.perf_counter() - t0)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    load_s = []
    if chromium:
        for i in range(runs):
            prof = out.parent / f"profile-{i}"
            t0 = time.perf_counter()
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={prof}", "--dump-dom", out.as_uri()], capture_output=True, check=True,
                           timeout=120)
            load_s.append(time.perf_counter() - t0)
    print(f"{'measure':<44} {'median':>10} {'min':>10}")
    print(f"{'ofa-deploy report: write (s)':<44} {statistics.median(write_s):>10.2f} {min(write_s):>10.2f}")
    if load_s:
        print(f"{'chromium start + load + render + exit (s)':<44} {statistics.median(load_s):>10.2f} {min(load_s):>10.2f}")
    else:
        print("chromium: not installed (apt-get install chromium)")
    print(f"{'page size (MB)':<44} {out.stat().st_size / 1e6:>10.3f}")


if __name__ == "__main__":
    main()
