"""What `search --verify` costs and delivers on the shipped demo space (device cpu, shipped table).

For each budget: seconds of a plain search and of a verified one (in-process, `run_search`), the
verified subnet's predicted and measured latency (the end-to-end timing `--verify` does, the
protocol of `benchmark`), and the rounds taken. Prints a table. Run:
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_verify.py [0.28 0.35 0.45]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time


def main(budgets: list[float]) -> None:
    os.environ.setdefault("OFA_DEPLOY_HOME", tempfile.mkdtemp(prefix="bench-verify-"))
    from ofa_deploy.search import SearchRequest, run_search

    print(f"load {os.getloadavg()[0]:.2f}")
    print(f"{'budget ms':>9} {'plain s':>8} {'verify s':>9} {'extra s':>8} {'pred ms':>8} {'measured ms':>11} "
          f"{'rounds':>6} {'met':>4}")
    for b in budgets:
        t0 = time.perf_counter()
        run_search(SearchRequest.from_text(f"{b}ms", device="cpu", verify=False))
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = run_search(SearchRequest.from_text(f"{b}ms", device="cpu", verify=True))
        ver = time.perf_counter() - t0
        v = out.sources["verified"]
        print(f"{b:>9.2f} {plain:>8.2f} {ver:>9.2f} {ver - plain:>8.2f} {v['predicted_ms']:>8.3f} "
              f"{v['measured_ms']:>11.3f} {len(v['rounds']):>6} {'yes' if v['met'] else 'no':>4}")


if __name__ == "__main__":
    main([float(x) for x in sys.argv[1:]] or [0.28, 0.35, 0.45])
