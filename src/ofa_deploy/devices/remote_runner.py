#!/usr/bin/env python3
"""Standalone latency runner, copied to a device (Raspberry Pi, Linux board) with the block models.

Needs only the standard library, numpy and one runtime: the LiteRT interpreter (`ai_edge_litert`,
or the older `tflite_runtime`) or onnxruntime. It times the models of a bundle with the shared
measurement protocol (`ofa_protocol.py` in the same folder: a verbatim copy of
`ofa_deploy/latency/protocol.py`, so device and host measure alike) and streams one JSON object
per line on stdout, as it goes:

    {"t": "info", ...}                      runtime, versions, CPU model, governors, temperature (or,
                                            where the board exposes none, null and the reason)
    {"t": "res", "r": 160}                  a resolution starts
    {"t": "s", "n": "160/Conv-..."}         a session ended (progress)
    {"t": "row", "n": ..., "stats": {...}}  an entry is finished: count, mean, median, std, p10, p90 (ms)
    {"t": "guard", ...}                     the SoC was too hot and we waited
    {"t": "done", "thermal": {...}}         all entries measured
    {"t": "error", "kind": ..., "message": ...}  then exit status 3

Usage: `remote_runner.py --bundle DIR` (reads DIR/run.json and DIR/manifest.json);
`remote_runner.py --stdin-bundle DIR` (the bundle arrives as a tar stream on stdin, unpacked while
the host still exports it, then measured; DIR is removed at the end); `remote_runner.py --probe
JSON` (what `info()` reports, without importing the runtime). The SSH backend sends this script
itself on stdin ahead of the bundle, so a device needs nothing installed beforehand.
Anything the runtimes print goes to stderr, so stdout carries JSON lines only.

Why it opens its own onnxruntime sessions and LiteRT interpreters instead of `ofa_deploy.runtime`:
the package is not installed on the device (nothing is, beforehand), and this file must run there
alone. Its session settings are those of `runtime.sessions` (threads, one inter-op thread,
sequential execution, all graph optimisations; the interpreter's default delegate); the timing
loop, the statistics and the thermal guard are the protocol's own (`ofa_protocol.py`), not copies.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys

_OUT = sys.stdout


_CLEANUP: list[str] = []   # a bundle folder to remove however the runner ends


def cleanup() -> None:
    import shutil

    while _CLEANUP:
        shutil.rmtree(_CLEANUP.pop(), ignore_errors=True)


def emit(obj: dict) -> None:
    try:
        _OUT.write(json.dumps(obj) + "\n")
        _OUT.flush()
    except BrokenPipeError:  # the host went away: nothing left to report to
        cleanup()
        os._exit(141)


class RunnerError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ---- device facts -------------------------------------------------------------------------------
def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def cpu_model() -> str:
    fields: dict[str, str] = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        k, sep, v = line.partition(":")
        if sep and v.strip():
            fields.setdefault(k.strip(), v.strip())
    name = (fields.get("model name") or fields.get("Hardware") or fields.get("cpu model")
            or _arm_core(fields.get("CPU part")) or platform.machine())
    board = _read("/proc/device-tree/model") or fields.get("Model")  # Raspberry Pi: "Model : Raspberry Pi 4 ..."
    if board:
        name = f"{board.strip(chr(0))}, {name}"
    return f"{name} ({os.cpu_count()} logical CPUs)"


def _arm_core(part: str | None) -> str | None:
    """ARM cores name themselves only by part number in /proc/cpuinfo."""
    names = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1"}
    return names.get((part or "").lower(), f"ARM part {part}" if part else None)


def governors(cores: list[int] | None) -> dict[str, str]:
    ids = cores if cores else range(os.cpu_count() or 1)
    out = {}
    for c in ids:
        g = _read(f"/sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor")
        if g:
            out[str(c)] = g
    return out


def temperatures(pattern: str) -> list[float]:
    temps = []
    for p in sorted(glob.glob(pattern)):
        raw = _read(p)
        try:
            v = float(raw) if raw is not None else None
        except ValueError:
            v = None
        if v is not None:
            temps.append(v / 1000.0 if abs(v) > 1000 else v)
    return temps


# ---- runtimes -------------------------------------------------------------------------------------
# runtime -> candidates (top-level module, distribution names, module to import), in order of preference
RUNTIMES = {
    "tflite": [("ai_edge_litert", ("ai-edge-litert",), "ai_edge_litert.interpreter"),
               ("tflite_runtime", ("tflite-runtime", "tflite_runtime"), "tflite_runtime.interpreter")],
    "onnxruntime": [("onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino"), "onnxruntime")],
}
INSTALL = {
    "tflite": "`{py} -m pip install ai-edge-litert` (or tflite-runtime, which needs numpy<2)",
    "onnxruntime": "`{py} -m pip install onnxruntime`",
}


def _installed(top: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError, AttributeError):  # blocked or half-installed packages
        return False


def _dist_version(dists) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for d in dists:
        try:
            return version(d)
        except PackageNotFoundError:
            continue
    return "unknown"


def find_runtime(name: str):
    """(module to import, label, version) of the runtime, found without importing it: the probe
    stays fast, and a device without the runtime hears what to install."""
    if name not in RUNTIMES:
        raise RunnerError("runtime", f"runtime {name!r} is not supported by the remote runner (tflite, onnxruntime)")
    hint = INSTALL[name].format(py=sys.executable)
    if not _installed("numpy"):
        raise RunnerError("runtime", f"numpy is missing on the device: `{sys.executable} -m pip install numpy`")
    for top, dists, module in RUNTIMES[name]:
        if _installed(top):
            return module, dists[0], _dist_version(dists)
    what = "no TFLite runtime" if name == "tflite" else "onnxruntime is missing"
    tried = ", ".join(top for top, _, _ in RUNTIMES[name])
    raise RunnerError("runtime", f"{what} on the device (looked for {tried} in {sys.executable}): install it with {hint}")


_LOADED: dict = {}


def load_runtime(name: str):
    """(runtime module, label, version); imported once (the bundle receiver imports it early)."""
    if name not in _LOADED:
        module, label, version = find_runtime(name)
        try:
            import importlib

            import numpy  # noqa: F401

            mod = importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 (e.g. an ABI mismatch with numpy: reported with the fix)
            raise RunnerError("runtime", f"{label} {version} is installed but does not import ({e}): reinstall it "
                              f"with {INSTALL[name].format(py=sys.executable)}") from None
        _LOADED[name] = (mod, label, version)
    return _LOADED[name]


def session_factory(runtime: str, mod, threads: int, delegate: str | None):
    """open(path, input_shape) -> a no-argument runner on a fresh session."""
    import numpy as np

    if runtime == "tflite":
        kw = {}
        if delegate in ("none", "cpu"):
            kw["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        elif delegate not in (None, "xnnpack"):
            raise RunnerError("delegate", f"delegate {delegate!r} is not available to the remote runner "
                              "(xnnpack, the default, or none)")

        def open_tflite(path: str, shape):
            it = mod.Interpreter(model_path=path, num_threads=threads, **kw)
            it.allocate_tensors()
            inp = it.get_input_details()[0]
            x = np.random.default_rng(0).standard_normal(tuple(inp["shape"])).astype(inp["dtype"])
            it.set_tensor(inp["index"], x)
            return it.invoke

        return open_tflite

    def open_onnx(path: str, shape):
        so = mod.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = mod.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = mod.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        sess = mod.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(tuple(shape)).astype(np.float32)}
        return lambda: sess.run(None, feed)

    return open_onnx


GOVERNOR_FILES = "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"


def device_state(cores: list[int] | None, thermal_glob: str) -> dict:
    """The CPU frequency governors and the hottest thermal zone, each None with the reason when the
    board exposes none (no cpufreq driver, no thermal zone: a container, an emulator, some boards)."""
    govs = governors(cores)
    temps = temperatures(thermal_glob)
    out: dict = {"governors": govs or None, "temp_c": max(temps) if temps else None}
    if not govs:
        where = f"cores {cores}" if cores else "any core"
        out["governors_reason"] = (f"no cpufreq governor readable for {where} ({GOVERNOR_FILES}: no cpufreq driver "
                                   "exposed, as in a container or an emulator)")
    if not temps:
        out["temp_reason"] = f"no thermal zone readable ({thermal_glob} matches nothing)"
    return out


def device_info(cfg: dict) -> dict:
    cores = cfg.get("cores")
    _, label, version = find_runtime(cfg["runtime"])
    guard = cfg.get("guard") or {}
    state = device_state(cores, guard.get("thermal_glob", "/sys/class/thermal/thermal_zone*/temp"))
    return {
        "t": "info",
        "runtime": cfg["runtime"],
        "runtime_version": f"{label} {version}",
        "python": platform.python_version(),
        "numpy": _dist_version(("numpy",)),
        "host_cpu": cpu_model(),
        "machine": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        **state,
        "threads": cfg.get("threads", 1),
        "cores": cores,
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


# ---- measuring --------------------------------------------------------------------------------------
def _protocol_module():
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import ofa_protocol
    except ImportError:  # run from inside the package (tests, local use)
        from ofa_deploy.latency import protocol as ofa_protocol
    return ofa_protocol


def make_guard(proto, settings: dict, read_temps=None, report=None):
    """The protocol's `ThermalGuard` (it lives with the protocol, shared with the adb backend),
    reading this machine's `thermal_glob` files and reporting every wait as a JSON line."""
    pattern = settings.get("thermal_glob", "/sys/class/thermal/thermal_zone*/temp")
    return proto.ThermalGuard(settings, read_temps or (lambda: temperatures(pattern)), report or emit)


def run_bundle(folder: str) -> None:
    with open(os.path.join(folder, "run.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    if cfg.get("cores") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cfg["cores"]))
    emit(device_info(cfg))
    proto_mod = _protocol_module()
    protocol = proto_mod.Protocol.from_dict(cfg["protocol"])
    mod, _, _ = load_runtime(cfg["runtime"])
    open_model = session_factory(cfg["runtime"], mod, int(cfg.get("threads", 1)), cfg.get("delegate"))
    entries = {f"{e['resolution']}/{e['key']}": e for e in manifest["entries"]}
    groups: dict[int, list[str]] = {}
    for name, e in entries.items():
        groups.setdefault(int(e["resolution"]), []).append(name)
    guard = make_guard(proto_mod, cfg.get("guard") or {})

    def open_session(name: str):
        e = entries[name]
        return open_model(os.path.join(folder, e["path"]), e["input_shape"])

    for r, names in groups.items():
        emit({"t": "res", "r": r})
        proto_mod.measure(names, open_session, protocol, guard,
                          on_entry=lambda n, st: emit({"t": "row", "n": n, "key": entries[n]["key"],
                                                       "r": entries[n]["resolution"], "stats": st}),
                          on_session=lambda n: emit({"t": "s", "n": n}))
    emit({"t": "done", "thermal": guard.summary()})


def receive_bundle(folder: str) -> bool:
    """Unpack the bundle's tar stream from stdin into `folder` while it is still being exported on
    the host; the runtime is imported in the background as soon as run.json (sent first) is in."""
    import tarfile
    import threading

    os.makedirs(folder, exist_ok=True)
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    importer = None
    if not sys.stdin.buffer.peek(1):
        return False  # the host closed the stream without a bundle: nothing to measure
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        for member in tar:
            name = os.path.normpath(member.name)
            if os.path.isabs(name) or name.startswith("..") or not (member.isfile() or member.isdir()):
                raise RunnerError("bundle", f"refusing bundle member {member.name!r}")
            tar.extract(member, folder, **safe)
            if name == "run.json" and importer is None:
                with open(os.path.join(folder, name)) as f:
                    runtime = json.load(f)["runtime"]
                importer = threading.Thread(target=_preload, args=(runtime,), daemon=True)
                importer.start()
    if importer is not None:
        importer.join()
    return True


def _preload(runtime: str) -> None:
    try:
        load_runtime(runtime)
    except RunnerError:
        pass  # raised again, and reported, when the run asks for the runtime


def main() -> int:
    global _OUT
    ap = argparse.ArgumentParser(description="ofa-deploy remote latency runner")
    ap.add_argument("--bundle", help="folder with run.json, manifest.json and the models")
    ap.add_argument("--stdin-bundle", help="receive the bundle as a tar stream on stdin into this folder, measure "
                    "it, then remove the folder")
    ap.add_argument("--settings", help="with --stdin-bundle: JSON settings; report the device at once (the "
                    "host's probe) and import the runtime while the bundle is still on its way")
    ap.add_argument("--probe", help="JSON settings: report the device and runtime, measure nothing")
    args = ap.parse_args()
    # JSON lines own stdout; whatever a runtime prints from C++ goes to stderr.
    _OUT = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    try:
        if args.probe is not None:
            emit(device_info(json.loads(args.probe)))
        elif args.stdin_bundle:
            _CLEANUP.append(os.path.abspath(args.stdin_bundle))
            import signal

            for sig in (signal.SIGHUP, signal.SIGTERM):
                signal.signal(sig, lambda *_: (cleanup(), os._exit(143)))
            if args.settings:
                import threading

                settings = json.loads(args.settings)
                emit(device_info(settings))
                threading.Thread(target=_preload, args=(settings["runtime"],), daemon=True).start()
            if receive_bundle(args.stdin_bundle):
                run_bundle(args.stdin_bundle)
        elif args.bundle:
            run_bundle(args.bundle)
        else:
            raise RunnerError("usage", "give --bundle DIR, --stdin-bundle DIR or --probe JSON")
    except RunnerError as e:
        emit({"t": "error", "kind": e.kind, "message": str(e)})
        return 3
    except Exception as e:  # noqa: BLE001 (reported to the host as one line, not a traceback it cannot parse)
        emit({"t": "error", "kind": type(e).__name__, "message": str(e)})
        return 3
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
