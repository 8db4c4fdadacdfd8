"""Export targets on the shipped demo supernet, measured on this machine and printed as one table.

The middle subnet of the demo space (every choice at its middle value) is exported to ONNX,
TFLite fp32 and TFLite int8 by the same pipeline as `ofa-deploy export` (BN recalibrated on
Fashion-MNIST validation images, verification on the first N test images), then timed with the
profiling protocol (batch 1, 1 thread: onnxruntime for ONNX, the LiteRT interpreter for TFLite).
A verification failure is reported in the table, not raised.

Usage: python benchmarks/bench_export.py [--images 1000] [--checkpoint SUPERNET] [--json]

Issue 29's target figures (searched subnets at 0.28/0.35/0.45 ms, the w1.0 int8 speed-up, export speed
and the BN cache) are printed by `benchmarks/bench_int8.py`, which `--issue29` runs after this table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

TARGETS = (("onnx", False), ("onnx", True), ("tflite", False), ("tflite", True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000, help="test images the files are verified on")
    ap.add_argument("--checkpoint", type=Path, default=None, help="supernet (default: the shipped demo one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--issue29", action="store_true", help="then run benchmarks/bench_int8.py (issue 29's targets)")
    args = ap.parse_args()

    from ofa_deploy.devices.benchmark import benchmark
    from ofa_deploy.errors import VerificationError
    from ofa_deploy.export.pipeline import ExportOptions, failed_path, plan_export, run_export
    from ofa_deploy.export.report import load_report
    from ofa_deploy.latency.protocol import Protocol
    from ofa_deploy.nn import load_supernet
    from ofa_deploy.nn.shipped import ShippedSupernetMissing, shipped_supernet_path
    from ofa_deploy.space import Subnet, middle_arch, save_subnet

    try:
        checkpoint = args.checkpoint or shipped_supernet_path()
    except ShippedSupernetMissing as e:
        sys.exit(f"bench_export: {e}")
    spec = load_supernet(checkpoint).spec
    arch = middle_arch(spec)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        subnet = save_subnet(Subnet(spec, arch, {"note": "middle subnet of the demo space"}), Path(tmp) / "middle.json")
        for fmt, int8 in TARGETS:
            opts = ExportOptions(fmt, subnet, int8=int8, checkpoint=checkpoint, verify_images=args.images,
                                 out=Path(tmp) / ("middle" + (".int8" if int8 else "") + f".{fmt}"))
            t0 = time.perf_counter()
            plan = plan_export(opts)
            try:
                run_export(plan)
            except VerificationError:
                pass  # the report says which check failed
            seconds = time.perf_counter() - t0
            written = plan.out if plan.out.exists() else failed_path(plan.out)
            report = load_report(written)
            lat = benchmark(written, "cpu", threads=1, protocol=Protocol())["measured_ms"]
            m = report["verification"]["metrics"]
            rows.append({"target": f"{fmt} {report['precision']}", "export_verify_s": round(seconds, 1),
                         "size_bytes": report["size_bytes"], "size_ratio": m.get("size_ratio"),
                         "max_abs_diff_rel": m["max_abs_diff_rel"], "top1_agreement": m["top1_agreement"],
                         "accuracy_torch": m.get("accuracy_torch"), "accuracy_file": m.get("accuracy_file"),
                         "latency_median_ms": lat["median"], "latency_p10_ms": lat["p10"],
                         "passed": report["passed"],
                         "failed": [c["metric"] for c in report["verification"]["checks"] if c["passed"] is False]})
    info = {"checkpoint": str(checkpoint), "arch": arch.to_dict(), "images": args.images,
            "data": report["verification"]["source"], "rows": rows}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"middle subnet {arch.short()} of {spec.describe()}; verified on {args.images} images "
          f"({info['data']}); latency: batch 1, 1 thread, median of the profiling protocol")
    head = ("target", "export+verify s", "size MB", "vs fp32", "max|diff|/scale", "top-1 agree %", "acc torch %",
            "acc file %", "latency ms", "verified")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([
            r["target"], f"{r['export_verify_s']:.1f}", f"{r['size_bytes'] / 1e6:.2f}",
            f"{r['size_ratio']:.3f}" if r["size_ratio"] is not None else "-", f"{r['max_abs_diff_rel']:.2e}",
            f"{r['top1_agreement']:.1f}", _pct(r["accuracy_torch"]), _pct(r["accuracy_file"]),
            f"{r['latency_median_ms']:.3f}", "yes" if r["passed"] else f"no ({', '.join(r['failed'])})",
        ]))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    main()
    if "--issue29" in sys.argv:
        import subprocess

        subprocess.run([sys.executable, str(Path(__file__).with_name("bench_int8.py"))], check=True)
