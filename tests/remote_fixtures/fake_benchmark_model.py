#!/usr/bin/env python3
"""STAND-IN for TFLite's `benchmark_model` binary, for tests only: it is NOT the real tool.

No `benchmark_model` build for this machine can be had here, so the adb tests push this script
in its place. It accepts the real tool's flags, times the model with the LiteRT Python
interpreter, and prints the real tool's output format (with the `INFO: ` prefix of newer builds),
so the adb backend and its parser run exactly as they would on a phone. Per-operator times under
`--enable_op_profiling=true` are the measured total split evenly over the graph's operators (the
Python interpreter exposes no per-op timer); only their format is meant to be faithful.
"""

import os
import sys
import time


def flags(argv):
    out = {}
    for a in argv:
        if not a.startswith("--"):
            continue
        k, _, v = a[2:].partition("=")
        out[k] = v if v else "true"
    return out


def stat_line(samples_us):
    n = len(samples_us)
    avg = sum(samples_us) / n
    std = (sum((s - avg) ** 2 for s in samples_us) / n) ** 0.5
    ints = [round(s) for s in samples_us]
    if min(ints) == max(ints):
        return f"count={n} curr={ints[-1]}" + ("(all same)" if n > 1 else "")
    return (f"count={n} first={ints[0]} curr={ints[-1]} min={min(ints)} max={max(ints)} avg={avg:g} "
            f"std={round(std)}")


def main():
    f = flags(sys.argv[1:])
    say = lambda s: print("INFO: " + s, flush=True)
    graph = f.get("graph")
    say("STARTING!")
    say("Log parameter values verbosely: [0]")
    threads = int(f.get("num_threads", "-1"))
    say(f"Num threads: [{threads}]")
    say(f"Graph: [{graph}]")
    if f.get("enable_op_profiling") == "true":
        say("Enable op profiling: [1]")
    for name, label in (("use_gpu", "Use gpu"), ("use_nnapi", "Use NNAPI"), ("use_xnnpack", "Use xnnpack")):
        if name in f:
            say(f"{label}: [{1 if f[name] == 'true' else 0}]")
    if not graph or not os.path.exists(graph):
        print(f"ERROR: File {graph} does not exist", flush=True)
        print("ERROR: Failed to load model.", flush=True)
        print(f"ERROR: Benchmarking failed (stand-in benchmark_model, graph {graph!r}).", flush=True)
        return 1
    if f.get("use_gpu") == "true" or f.get("use_nnapi") == "true":
        print("ERROR: the stand-in benchmark_model has no GPU or NNAPI delegate", flush=True)
        return 1
    import numpy as np
    from ai_edge_litert import interpreter as litert

    say(f"#threads used for CPU inference: [{threads}]")
    say(f"Loaded model {graph}")
    say(f"The input model file size (MB): {os.path.getsize(graph) / 1e6:g}")
    t0 = time.perf_counter()
    kw = {}
    if f.get("use_xnnpack") == "false":
        kw["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = litert.Interpreter(model_path=graph, num_threads=max(threads, 1), **kw)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    # the input's own type (an int8 model takes int8 input, which the real tool fills alike)
    it.set_tensor(inp["index"], np.random.default_rng(0).standard_normal(tuple(inp["shape"])).astype(inp["dtype"]))
    init_us = (time.perf_counter() - t0) * 1e6
    say(f"Initialized session in {init_us / 1e3:.3f}ms.")

    def timed(n):
        out = []
        for _ in range(n):
            s = time.perf_counter()
            it.invoke()
            out.append((time.perf_counter() - s) * 1e6)
        return out

    warm_n = max(int(f.get("warmup_runs", "1")), 1)
    runs_n = max(int(f.get("num_runs", "50")), 1)
    say(f"Running benchmark for at least {warm_n} iterations and at least {f.get('warmup_min_secs', '0.5')} seconds "
        f"but terminate if exceeding {f.get('max_secs', '150')} seconds.")
    warm = timed(warm_n)
    say(stat_line(warm))
    say("")
    say(f"Running benchmark for at least {runs_n} iterations and at least {f.get('min_secs', '1')} seconds but "
        f"terminate if exceeding {f.get('max_secs', '150')} seconds.")
    runs = timed(runs_n)
    say(stat_line(runs))
    say("")
    avg = sum(runs) / len(runs)
    say(f"Inference timings in us: Init: {int(init_us)}, First inference: {int(warm[0])}, "
        f"Warmup (avg): {sum(warm) / len(warm):g}, Inference (avg): {avg:g}")
    say("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the "
        "actual memory footprint of the model at runtime. Take the information at your discretion.")
    say("Memory footprint delta from the start of the tool (MB): init=1.5 overall=2.25")
    if f.get("enable_op_profiling") == "true":
        ops = it._get_ops_details()
        each = avg / 1e3 / max(len(ops), 1)
        print("Operator-wise Profiling Info for Regular Benchmark Runs:")
        print("============================== Run Order ==============================")
        print("\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]")
        cdf = 0.0
        for i, op in enumerate(ops):
            pct = 100.0 / max(len(ops), 1)
            cdf += pct
            print(f"\t{op['op_name']:>24}\t{each:9.3f}\t{each:9.3f}\t{pct:7.3f}%\t{cdf:7.3f}%\t{0.0:10.3f}\t"
                  f"{1:9d}\t[{op['op_name'].lower()}_{i}]:{i}")
        print()
        print(f"Timings (microseconds): {stat_line(runs)}")
        print("Memory (bytes): count=0")
        print(f"{len(ops)} nodes observed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
