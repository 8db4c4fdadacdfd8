"""Issue 29 item 1's targets: an int8 latency table's prediction of int8 whole subnets, and an int8 search.

One run: the int8 table of the shipped demo supernet on `cpu` (onnxruntime, 1 thread) is profiled
from scratch (blocks quantised with representative activations, then fitted to int8 whole subnets,
`profile --precision int8 --method fit`), or read from `--table`. Then `--samples` held-out random
subnets (never one the fit used) are quantised whole, as `export --int8` ships them, timed end to
end with the same backend and protocol, and compared with the table's prediction (no calibration).
Last, `search --precision int8 --verify` under a budget (default: the held-out median) delivers a
subnet, which is timed again, int8, beside the budget.

Targets: >= 95 % of held-out subnets within +-10 %, MAPE <= 5 %, delivered subnet measured <= budget x 1.03.
The held-out subnets are then timed a second time: how close that second timing comes to the first (raw, and
calibrated on the same split) is the noise ceiling of this machine, which no table can beat.
The held-out rows are given twice: raw (the table as profiled), and calibrated as `latency validate
--calibrate` calibrates a table (ms = a * sum + b fitted on half of the held-out subnets, scored on the
other half), which absorbs this machine's drift between the profile and the held-out timing.

Usage:
  python benchmarks/bench_int8_table.py                      # demo space, all resolutions, 150 fit subnets
  options: -r 24,28 --samples 60 --subnets 150 --images 32 --budget 0.3 --table FOLDER --stat median|p10 --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-r", "--resolutions", default=None, help="e.g. 24,28 (default: all of the space)")
    ap.add_argument("--samples", type=int, default=60, help="held-out int8 whole subnets")
    ap.add_argument("--subnets", type=int, default=150, help="int8 whole subnets per resolution for the fit")
    ap.add_argument("--images", type=int, default=32, help="representative images per resolution")
    ap.add_argument("--budget", type=float, default=None, help="ms of the int8 search (default: held-out median)")
    ap.add_argument("--table", default=None, help="an int8 table folder to evaluate instead of profiling one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stat", choices=("median", "p10"), default="median")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-int8-table-"))
    os.environ["OFA_DEPLOY_HOME"] = str(work / "home")  # the search's files and records stay here

    import torch

    from ofa_deploy.devices import load_device
    from ofa_deploy.devices.int8_inputs import int8_calibration
    from ofa_deploy.devices.local import make_backend
    from ofa_deploy.latency import LatencyTable
    from ofa_deploy.latency.incontext import fit_subnets, heldout_subnets, run_incontext
    from ofa_deploy.latency.meta import apply_calibration
    from ofa_deploy.latency.profiler import plan_profile, run_profile
    from ofa_deploy.latency.protocol import Protocol
    from ofa_deploy.latency.validation import calibrate_on_split, error_metrics, measure_subnets
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.nn.shipped import shipped_supernet_path
    from ofa_deploy.search import SearchRequest, run_search
    from ofa_deploy.space import ArchBatch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    net = load_supernet(shipped_supernet_path()).eval()
    spec = net.spec
    rs = [int(r) for r in args.resolutions.split(",")] if args.resolutions else list(spec.resolutions)
    backend = make_backend(dataclasses.replace(load_device("cpu"), precision="int8"))
    proto = Protocol(seed=args.seed)
    cal = int8_calibration(spec, net, n_images=args.images)
    out: dict = {"host_cpu": backend.info()["host_cpu"], "runtime": backend.info()["runtime_version"],
                 "space": spec.describe(), "resolutions": rs, "stat": args.stat, "images": cal.description,
                 "load_at_start": list(os.getloadavg())}
    t0 = time.perf_counter()
    if args.table:
        folder = Path(args.table)
    else:
        folder = work / "int8-table"
        plan = plan_profile(spec, "cpu", backend.info(), rs, folder, proto, "int8", stat=args.stat,
                            extra_meta={"int8": cal.record()})
        run_profile(plan, spec, net, backend, proto, int8=cal)
        run_incontext(folder, net, backend, proto, "fit", args.subnets, seed=args.seed, int8=cal)
    out["profile_s"] = time.perf_counter() - t0
    table = LatencyTable.load(folder)
    assert table.precision == "int8", f"{folder} is not an int8 table"
    used = {a for r in rs for a in fit_subnets(spec, r, args.subnets, args.seed)}
    held = heldout_subnets(spec, rs, args.samples, np.random.default_rng([args.seed, 29]), used)
    batch = ArchBatch.from_archs(held)
    t0 = time.perf_counter()
    measured = measure_subnets(net, spec, batch, backend, proto, stat=args.stat, int8=cal)
    out["heldout_s"] = time.perf_counter() - t0
    raw = table.predict(batch, calibrated=False)
    out["heldout"] = error_metrics(raw, measured)

    def calibrated(predicted: np.ndarray) -> tuple[dict, dict]:
        """`predicted` calibrated on one half of the held-out subnets and scored on the other (the same split
        for every caller): the calibration and its errors."""
        _, test, calibration = calibrate_on_split(predicted, measured, args.seed)
        return calibration, error_metrics(apply_calibration(calibration, predicted)[test], measured[test])

    # What `latency validate --calibrate` then does (ms = a * sum + b, fitted on half of fresh whole subnets),
    # by its own function: fitted on one half of the held-out subnets and scored on the other half. It absorbs
    # the drift of this machine's speed between the profile and now (LATENCY_NOTES.md), which the raw row includes.
    out["calibration"], out["calibrated_heldout"] = calibrated(raw)
    # The noise ceiling: the same held-out subnets timed a second time, read as a "prediction" of the first
    # timing, raw and calibrated on the same split. No table can be closer to a timing than another timing of the
    # same subnets is, so where these miss the targets, the targets are below this machine's timing noise.
    t0 = time.perf_counter()
    retimed = measure_subnets(net, spec, batch, backend, proto, stat=args.stat, int8=cal)
    out["retest_s"] = time.perf_counter() - t0
    out["retest"] = error_metrics(retimed, measured)
    _, out["calibrated_retest"] = calibrated(retimed)

    budget = args.budget or float(np.median(measured))
    req = SearchRequest(latencies=[budget], device="cpu", table=folder, supernet=str(shipped_supernet_path()),
                        precision="int8", verify=True, seed=args.seed, say=lambda _: None)
    outcome = run_search(req)
    res = outcome.results[0]
    again = measure_subnets(net, spec, ArchBatch.from_archs([res.arch] * 3), backend, proto, stat=args.stat, int8=cal)
    verified = outcome.sources.get("verified") or {}
    out["search"] = {"budget_ms": budget, "arch": res.arch.short(), "predicted_ms": res.latency_ms,
                     "verified_ms": verified.get("measured_ms"), "met": verified.get("met"),
                     "table": (outcome.sources.get("latency_table") or {}).get("precision"),
                     "measured_again_ms": float(np.median(again)),
                     "ratio": float(np.median(again)) / budget}
    out["load_at_end"] = list(os.getloadavg())
    if args.json:
        print(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    e, s = out["heldout"], out["search"]
    t = Table(title=f"int8 table: {out['space']}, r {rs}; {e['n']} held-out int8 whole subnets, {args.stat}; "
                    f"{out['host_cpu']}, onnxruntime {out['runtime']}, 1 thread", title_justify="left")
    for col in ("figure", "value", "target", "ok"):
        t.add_column(col, justify="left" if col == "figure" else "right")

    def row(name: str, v: float, target: str, ok: bool, fmt: str = "{:.2f}") -> None:
        t.add_row(name, fmt.format(v), target, "[green]yes[/]" if ok else "[red]no[/]")

    row("held-out within ±10 % (%)", e["within_10"], ">= 95", e["within_10"] >= 95, "{:.0f}")
    row("held-out MAPE (%)", e["mape"], "<= 5", e["mape"] <= 5)
    row("held-out within ±5 % (%)", e["within_5"], "-", True, "{:.0f}")
    row("measured / predicted (median)", e["measured_over_predicted"], "-", True, "{:.3f}")
    row("Kendall tau", e["kendall_tau"], "-", True, "{:.3f}")
    c = out["calibrated_heldout"]
    row(f"calibrated, the other {c['n']}: within ±10 % (%)", c["within_10"], ">= 95", c["within_10"] >= 95, "{:.0f}")
    row(f"calibrated, the other {c['n']}: MAPE (%)", c["mape"], "<= 5", c["mape"] <= 5)
    for name, key in (("timed again", "retest"), ("timed again, calibrated", "calibrated_retest")):
        c = out[key]
        row(f"noise ceiling, {name} ({c['n']}): within ±10 % (%)", c["within_10"], ">= 95", c["within_10"] >= 95,
            "{:.0f}")
        row(f"noise ceiling, {name} ({c['n']}): MAPE (%)", c["mape"], "<= 5", c["mape"] <= 5)
    row("delivered subnet measured / budget", s["ratio"], "<= 1.03", s["ratio"] <= 1.03, "{:.3f}")
    console = Console(width=200)
    console.print(t)
    console.print(f"int8 search ({s['table']} table) under {s['budget_ms']:.3f} ms delivered {s['arch']}: predicted "
                  f"{s['predicted_ms']:.3f} ms, verified {s['verified_ms']:.3f} ms (met: {s['met']}), measured again "
                  f"{s['measured_again_ms']:.3f} ms")
    console.print(f"profile {out['profile_s']:.0f} s, held-out timed in {out['heldout_s']:.0f} s and again in "
                  f"{out['retest_s']:.0f} s; representative images: "
                  f"{out['images']}; load average {out['load_at_start'][0]:.2f} at start, {out['load_at_end'][0]:.2f} "
                  f"at end (1 min)")


if __name__ == "__main__":
    main()
