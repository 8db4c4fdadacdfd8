"""What `search --verify` costs and delivers on the shipped demo space (device cpu, shipped table).

Issue 18's protocol: for each budget and seed, a plain search and a verified one (in-process,
`run_search`); then the verified subnet is exported to ONNX and timed by `ofa-deploy benchmark`
in a separate process, as a user would check it. Printed per run: seconds of each search, the
extra seconds `--verify` costs, predicted accuracy of both (target: within 0.3 points), the
verified subnet's predicted / verification-measured latency, the rounds, and the separate
benchmark's median against the budget (target: <= budget x 1.03). Run on an idle machine:
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_verify.py [--seeds 0,1,2] [0.28 0.35 0.45]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "ofa_deploy", *args, "--json"], capture_output=True, text=True,
                         check=True, env=os.environ)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("budgets", nargs="*", type=float, default=[0.28, 0.35, 0.45])
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    os.environ.setdefault("OFA_DEPLOY_HOME", tempfile.mkdtemp(prefix="bench-verify-"))
    from ofa_deploy.search import SearchRequest, run_search

    work = Path(tempfile.mkdtemp(prefix="bench-verify-files-"))
    print(f"load {os.getloadavg()[0]:.2f}")
    head = (f"{'budget':>6} {'seed':>4} {'plain s':>7} {'verify s':>8} {'extra s':>7} {'acc plain':>9} "
            f"{'acc ver':>8} {'d acc':>6} {'pred ms':>8} {'ver ms':>7} {'rounds':>6} {'bench ms':>8} "
            f"{'/budget':>7} {'ok':>3}")
    print(head)
    worst, extra, dacc = 0.0, [], []
    for b in args.budgets:
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.perf_counter()
            plain = run_search(SearchRequest.from_text(f"{b}ms", device="cpu", verify=False, seed=seed,
                                                       out=work / "plain.json", force=True))
            t_plain = time.perf_counter() - t0
            sub = work / f"v{b}_{seed}.json"
            t0 = time.perf_counter()
            ver = run_search(SearchRequest.from_text(f"{b}ms", device="cpu", verify=True, seed=seed, out=sub,
                                                     force=True))
            t_ver = time.perf_counter() - t0
            v = ver.sources["verified"]
            onnx = work / f"v{b}_{seed}.onnx"
            _cli("export", "--format", "onnx", "--subnet", str(sub), "-o", str(onnx), "--force")
            bench = _cli("benchmark", str(onnx))["measured_ms"]["median"]
            a_plain, a_ver = plain.results[0].accuracy * 100, ver.results[0].accuracy * 100
            ratio = bench / b
            worst, extra = max(worst, ratio), extra + [t_ver - t_plain]
            dacc.append(a_plain - a_ver)
            print(f"{b:>6.2f} {seed:>4} {t_plain:>7.2f} {t_ver:>8.2f} {t_ver - t_plain:>7.2f} {a_plain:>9.2f} "
                  f"{a_ver:>8.2f} {a_plain - a_ver:>6.2f} {v['predicted_ms']:>8.3f} {v['measured_ms']:>7.3f} "
                  f"{len(v['rounds']):>6} {bench:>8.3f} {ratio:>7.3f} {'yes' if ratio <= 1.03 else 'NO':>3}")
    print(f"worst benchmark/budget {worst:.3f} (target <= 1.03); accuracy given up by verifying: max "
          f"{max(dacc):.2f} points (target <= 0.3); --verify costs {min(extra):.1f}..{max(extra):.1f} s extra")


if __name__ == "__main__":
    main()
