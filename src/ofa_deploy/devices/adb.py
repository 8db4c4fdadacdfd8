"""Profiling on an Android phone through `adb` and TFLite's `benchmark_model` (how the official OFA
Note8/Note10/Pixel tables were measured: one thread, the phone's CPU, `taskset` to pinned cores).

nn-Meter's split: this module runs commands and returns their text; `devices.benchmark_model`
holds the commands' construction and the pure parsers. One profile run:

1. picks the device: `--serial`, or the only one attached (saying so in `info()["note"]`); no
   device is an error that shows what `adb devices` printed; several without `--serial` too;
2. builds one bundle of the plan's missing blocks as `.tflite` (`devices.bundle`, cached), pushes
   it and the user's `benchmark_model` binary (`--benchmark-binary`) once;
3. runs `benchmark_model` once per session with the descriptor's threads, delegate
   (`--use_xnnpack`, `--use_gpu`, `--use_nnapi`) and cores (`taskset MASK`), interleaving entries in
   the shared protocol's order (chunks, `sessions` rounds in a seeded shuffle) and writing each
   entry's row when its chunk ends; with `extra: {op_profiling: true}` per-operator times go to
   `ops.jsonl` beside the table;
4. before every session, the protocol's thermal guard (the one the SSH runner uses) reads the
   thermal zones and waits while the phone is hotter than `guard.max_temp_c`;
5. if the device drops off (cable, Wi-Fi adb), waits up to `guard.reconnect_s` for it
   (re-running `adb connect` for network serials), pushes again what went missing and carries on;
   otherwise the rows written so far stay and a rerun measures only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DeviceError, FormatError
from ..latency import protocol as protocol_mod
from ..latency.table import Row
from .backend import Capabilities
from .benchmark_model import (
    BenchmarkResult,
    benchmark_command,
    benchmark_failure,
    parse_adb_devices,
    parse_benchmark_output,
    parse_tagged,
    parse_temperatures,
    pool_sessions,
)
from .bundle import build_bundle
from .descriptor import DeviceDescriptor

DEFAULT_WORKDIR = "/data/local/tmp/ofa-deploy"
THERMAL_GLOB = "/sys/class/thermal/thermal_zone*/temp"
BINARY_HELP = ("build TFLite's benchmark_model for the phone (`bazel build -c opt --config=android_arm64 "
               "//tensorflow/lite/tools/benchmark:benchmark_model`) or download a prebuilt one "
               "(android_aarch64_benchmark_model from the TFLite nightly builds), then pass --benchmark-binary PATH")
_GONE = ("not found", "offline", "no devices", "closed", "protocol fault", "failed to connect", "connection reset",
         "connection refused", "disconnected", "unauthorized", "device still")


class DeviceGone(Exception):
    """The adb transport to the device is down (not: a command failed on the device)."""


class AdbBackend:
    """Measures a whole profile plan on an Android device with `benchmark_model` (see module docstring)."""

    kind = "adb"
    needs_onnx = False
    capabilities = Capabilities(files=(".tflite",), bundled=True)

    def __init__(self, device: DeviceDescriptor, serial: str | None = None, benchmark_binary: str | None = None,
                 runtime: str | None = None, threads: int | None = None, adb: str = "adb",
                 cache: str | os.PathLike | None = None):
        self.device = device
        if (runtime or device.runtime) != "tflite":
            raise DeviceError(f"device {device.name!r}: the adb backend times .tflite models with benchmark_model "
                              f"(runtime: tflite), not {runtime or device.runtime!r}")
        if device.precision not in ("fp32", "int8"):  # int8: the bundle ships int8 files (`int8_bundle`)
            raise DeviceError(f"device {device.name!r}: block models are exported in fp32 or int8, not {device.precision}")
        self.precision = device.precision
        exe = shutil.which(adb)
        if exe is None:
            raise DeviceError("the Android Debug Bridge `adb` is not installed: apt install adb "
                              "(or add Android platform-tools to PATH)")
        self.adb = exe
        binary = benchmark_binary or (device.extra or {}).get("benchmark_binary") \
            or os.environ.get("OFA_DEPLOY_BENCHMARK_BINARY")
        if not binary:
            raise DeviceError(f"device {device.name!r} is timed with TFLite's benchmark_model: {BINARY_HELP}")
        self.binary = Path(str(binary)).expanduser()
        if not self.binary.is_file():
            raise DeviceError(f"--benchmark-binary {self.binary}: no such file; {BINARY_HELP}")
        self.binary_digest = hashlib.sha256(self.binary.read_bytes()).hexdigest()
        self.serial = serial or device.serial
        self.threads = threads or device.threads
        self.cache = cache
        self.workdir = (device.workdir or DEFAULT_WORKDIR).rstrip("/")
        self.guard_settings = {"thermal_glob": THERMAL_GLOB, **(device.guard or {})}
        self.reconnect_s = float(self.guard_settings.get("reconnect_s", 60))
        self.op_profiling = bool((device.extra or {}).get("op_profiling", False))
        self.max_secs = float((device.extra or {}).get("max_secs", 150))
        self.note: str | None = None
        self._resolved = False
        self._info: dict[str, Any] | None = None
        self._thermal: dict[str, Any] | None = None
        self.reconnects = 0

    # ---- adb ----------------------------------------------------------------------------------
    def _run(self, args: list[str], timeout: float = 120, serial: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.adb, *(["-s", self.serial] if serial and self.serial else []), *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise DeviceGone(f"`adb {' '.join(args[:2])}` did not return within {timeout:.0f} s") from None

    def shell(self, command: str, timeout: float = 120) -> tuple[int, str]:
        """Run `command` on the device; returns (exit status, output). Raises DeviceGone when the
        transport (not the command) failed."""
        out = self._run(["shell", command], timeout)
        if out.returncode != 0 and _gone(out.stderr):
            raise DeviceGone(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "adb failed")
        return out.returncode, out.stdout + (out.stderr if out.returncode else "")

    def push(self, sources: list[str], dest: str, timeout: float = 600) -> None:
        out = self._run(["push", *sources, dest], timeout)
        if out.returncode != 0:
            msg = (out.stderr or out.stdout).strip()
            if _gone(msg):
                raise DeviceGone(msg.splitlines()[-1] if msg else "adb push failed")
            raise DeviceError(f"adb push to {self.serial}:{dest} failed: {msg.splitlines()[-1] if msg else '?'}")

    def resolve(self) -> str:
        """The serial to use (see the module docstring)."""
        if self._resolved:
            return str(self.serial)
        listing = self._run(["devices"], 60, serial=False)
        text = (listing.stdout + listing.stderr).strip()
        devices = parse_adb_devices(listing.stdout)
        if self.serial:
            state = dict(devices).get(self.serial)
            if state != "device" and ":" in self.serial:  # a network device: (re)connect it
                self._run(["connect", self.serial], 30, serial=False)
                listing = self._run(["devices"], 60, serial=False)
                text = (listing.stdout + listing.stderr).strip()
                state = dict(parse_adb_devices(listing.stdout)).get(self.serial)
            if state == "unauthorized":
                raise DeviceError(f"{self.serial} has not authorised this computer: accept the USB debugging prompt "
                                  "on the phone, then rerun")
            if state != "device":
                raise DeviceError(f"device {self.serial} is not attached ({state or 'absent'}); `adb devices` printed:"
                                  f"\n{text}\nconnect it (or `adb connect HOST:PORT`) or pass another --serial")
        else:
            ready = [s for s, st in devices if st == "device"]
            if not ready:
                raise DeviceError("no Android device is attached; `adb devices` printed:\n"
                                  f"{text or '(nothing)'}\nplug one in with USB debugging on (or `adb connect "
                                  "HOST:PORT`), then pass --serial SERIAL")
            if len(ready) > 1:
                raise DeviceError(f"{len(ready)} Android devices are attached ({', '.join(ready)}): pass --serial "
                                  "to choose one")
            self.serial = ready[0]
            self.note = f"using {self.serial}, the only device attached (pass --serial to choose another)"
        self._resolved = True
        return str(self.serial)

    # ---- backend interface --------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        if self._info is not None:
            return dict(self._info)
        self.resolve()
        cores = list(self.device.cores or [])
        probe = ["echo \"@model $(getprop ro.product.model)\"", "echo \"@abi $(getprop ro.product.cpu.abi)\"",
                 "echo \"@android $(getprop ro.build.version.release)\"",
                 "echo \"@soc $(getprop ro.soc.model) $(getprop ro.board.platform)\"",
                 "echo \"@ncpu $(ls -d /sys/devices/system/cpu/cpu[0-9]* 2>/dev/null | wc -l)\"",
                 f"echo \"@temps $(cat {self.guard_settings['thermal_glob']} 2>/dev/null | tr '\\n' ' ')\""]
        probe += [f"echo \"@gov{c} $(cat /sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor 2>/dev/null)\""
                  for c in cores]
        try:
            _, out = self.shell("; ".join(probe), 60)
        except DeviceGone as e:
            raise DeviceError(f"cannot talk to {self.serial}: {e}") from None
        tags = parse_tagged(out)
        temps = parse_temperatures(tags.get("temps", ""))
        soc = tags.get("soc", "").strip()
        cpu = ", ".join(x for x in (tags.get("model"), soc, tags.get("abi")) if x)
        govs = {str(c): tags[f"gov{c}"] for c in cores if tags.get(f"gov{c}")}
        state: dict[str, Any] = {"governors": govs or None, "temp_c": max(temps) if temps else None}
        if not govs:  # where the phone exposes none: null and the reason (the table's metadata records both)
            state["governors_reason"] = (f"no scaling_governor readable for cores {cores}" if cores else
                                         "the descriptor names no cores (cores:) whose governor to read")
        if not temps:
            state["temp_reason"] = f"no thermal zone readable ({self.guard_settings['thermal_glob']})"
        self._info = {
            "backend": "adb", "runtime": "tflite",
            "runtime_version": f"benchmark_model sha256:{self.binary_digest[:12]}",
            "threads": self.threads, "delegate": self.device.delegate, "format": "tflite", "serial": self.serial,
            "host_cpu": f"{cpu or 'unknown Android device'} ({tags.get('ncpu', '?')} CPUs)",
            "android": tags.get("android"), "cores": cores or None,
            **state, "benchmark_binary": self.binary.name,
        }
        if self.note:
            self._info["note"] = self.note
        return dict(self._info)

    def open(self, model: Any) -> Any:
        raise DeviceError(f"device {self.device.name!r} is measured through adb one bundle at a time (profile, "
                          "latency validate, search --verify); single models cannot be opened there")

    def run_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._thermal:
            out["remote_thermal"] = self._thermal
        if self.reconnects:
            out["adb_reconnects"] = self.reconnects
        return out

    # ---- measuring ----------------------------------------------------------------------------
    def _read_temps(self) -> list[float]:
        try:
            _, out = self.shell(f"cat {self.guard_settings['thermal_glob']} 2>/dev/null", 30)
        except DeviceGone:
            return []
        return parse_temperatures(out)

    def _install(self, bundle_dir: Path, remote: str) -> None:
        # bundles left by runs that lost the device go too (one profile at a time per phone)
        rc, out = self.shell(f"rm -rf {shlex.quote(self.workdir)}/bundle-* && mkdir -p {shlex.quote(remote)} "
                             "&& echo ok", 60)
        if rc != 0 or "ok" not in out:
            raise DeviceError(f"cannot create {remote} on {self.serial}: {out.strip()[-200:]}")
        binary = f"{self.workdir}/benchmark_model"
        self.push([str(self.binary)], binary)
        rc, out = self.shell(f"chmod 755 {shlex.quote(binary)} && echo ok", 30)
        if "ok" not in out:
            raise DeviceError(f"cannot make {binary} executable on {self.serial}: {out.strip()[-200:]}")
        sources = [str(p) for p in sorted(bundle_dir.iterdir()) if p.is_dir() or p.name == "manifest.json"]
        self.push(sources, remote + "/")

    def _present(self, remote: str) -> bool:
        _, out = self.shell(f"ls {shlex.quote(remote)}/manifest.json {shlex.quote(self.workdir)}/benchmark_model "
                             ">/dev/null 2>&1 && echo present", 30)
        return "present" in out

    def _recover(self, reason: str, bundle_dir: Path, remote: str) -> None:
        """Wait for the device to come back (reconnecting network serials), re-push if needed."""
        deadline = time.monotonic() + self.reconnect_s
        while time.monotonic() < deadline:
            if self.serial and ":" in self.serial:  # a network device: drop the stale transport, dial again
                self._run(["disconnect", self.serial], 15, serial=False)
                self._run(["connect", self.serial], 15, serial=False)
            state = self._run(["get-state"], 15)
            if state.returncode == 0 and state.stdout.strip() == "device":
                try:
                    if not self._present(remote):
                        self._install(bundle_dir, remote)
                    self.reconnects += 1
                    return
                except DeviceGone:
                    pass
            time.sleep(1.0)
        raise DeviceGone(f"{reason}; it did not come back within {self.reconnect_s:.0f} s")

    def _session(self, cmd: str, name: str, bundle_dir: Path, remote: str) -> BenchmarkResult:
        while True:
            try:
                rc, out = self.shell(cmd, self.max_secs + 120)
                break
            except DeviceGone as e:
                self._recover(str(e), bundle_dir, remote)
        try:
            result = parse_benchmark_output(out)
        except FormatError:
            raise DeviceError(f"benchmark_model failed on {name} (status {rc}): {benchmark_failure(out)}") from None
        if rc != 0:
            raise DeviceError(f"benchmark_model exited with status {rc} on {name}: {benchmark_failure(out)}")
        return result

    def _push(self, bundle: Any, tmp: Path, protocol: Any, op_profiling: bool) -> tuple[str, dict[str, str]]:
        """Install a built bundle on the device; its folder there and one benchmark_model command
        (one session) per entry, by name (`r/key`)."""
        remote = f"{self.workdir}/bundle-{bundle.bundle_id}"
        try:
            self._install(tmp, remote)
        except DeviceGone as e:
            self._recover(str(e), tmp, remote)
        manifest = json.loads((tmp / "manifest.json").read_text())
        commands = {f"{e['resolution']}/{e['key']}": benchmark_command(
            f"{self.workdir}/benchmark_model", f"{remote}/{e['path']}", self.threads, protocol.max_runs,
            protocol.warmup, self.device.delegate, self.device.cores, op_profiling, self.max_secs)
            for e in manifest["entries"]}
        return remote, commands

    def measure_models(self, models: list[Any], protocol: Any,
                       on_session: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
        """Time whole models (`BlockModel`s with a module: the subnets of `latency validate` and
        `search --verify`) on the phone with benchmark_model, in the protocol's loop, as profiling
        does; returns their statistics (ms; p10/p90 unknown) by model key."""
        self.info()
        tmp = Path(tempfile.mkdtemp(prefix="ofa-bundle-"))
        guard = protocol_mod.ThermalGuard(self.guard_settings, read_temps=self._read_temps)
        remote = None
        try:
            bundle = build_bundle({}, None, None, "tflite", tmp, self.cache, models=models)
            remote = f"{self.workdir}/bundle-{bundle.bundle_id}"
            remote, commands = self._push(bundle, tmp, protocol, False)
            res = protocol_mod.measure_sessions(
                [m.name for m in models], lambda name: self._session(commands[name], name, tmp, remote),
                pool_sessions, protocol, guard, None, on_session)
            self._thermal = guard.summary()
            return {name.split("/", 1)[1]: st for name, st in res.items()}
        except DeviceGone as e:
            raise DeviceError(f"lost {self.serial} ({e}) while timing whole models: reconnect the device and "
                              "rerun the command") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if remote is not None:
                self._remove(remote)

    def _remove(self, remote: str) -> None:
        """Remove a bundle folder from the phone, whichever way its run ended (a phone that is gone
        keeps it until the next run, whose install removes every stale `bundle-*`)."""
        try:
            self.shell(f"rm -rf {shlex.quote(remote)}", 60)
        except DeviceGone:
            pass

    def measure_plan(self, plan: Any, spec: Any, net: Any, protocol: Any, writer: Any,
                     on_session: Callable[[str], None] | None = None,
                     on_resolution: Callable[[int, str], None] | None = None,
                     blocks: list[Any] | None = None, extra: list[Any] | None = None,
                     on_extra: Callable[[str, dict[str, float]], None] | None = None) -> int:
        """Push one bundle, run benchmark_model per session in the protocol's order, append rows.
        `blocks`: the plan's block models if already made; `extra`: whole models (the in-context
        fit's subnets) in the same bundle, timed after the blocks of their resolution, their
        statistics to `on_extra(name, stats)` instead of rows."""
        if plan.metadata.get("stat") == "p10":
            raise DeviceError("benchmark_model reports each session's average, not single runs, so adb tables "
                              "have no p10: profile with --stat median (the median of session averages) or mean")
        self.info()
        tmp = Path(tempfile.mkdtemp(prefix="ofa-bundle-"))
        written = 0
        remote = None
        guard = protocol_mod.ThermalGuard(self.guard_settings, read_temps=self._read_temps)
        try:
            def progress(r: int, done: int, total: int, hit: bool) -> None:
                if on_resolution is not None:
                    on_resolution(r, f"tflite models {done}/{total}")

            from .int8_bundle import bundle_block_models  # torch: imported when a profile runs

            models = bundle_block_models(plan, spec, net, "tflite", blocks, self.cache, on_resolution)
            bundle = build_bundle(plan.todo, spec, net, "tflite", tmp, self.cache, progress, models=models, extra=extra)
            remote = f"{self.workdir}/bundle-{bundle.bundle_id}"
            if on_resolution is not None:
                on_resolution(next(iter(plan.todo)), f"pushing {bundle.nbytes / 1e6:.1f} MB")
            remote, commands = self._push(bundle, tmp, protocol, self.op_profiling)
            ops_file = Path(plan.folder) / "ops.jsonl"
            sessions: dict[str, list[BenchmarkResult]] = {}  # every session's report (op profiles)
            extra_names: dict[int, list[str]] = {}
            for m in extra or []:
                extra_names.setdefault(m.resolution, []).append(m.name)
            for r, keys in plan.todo.items():
                if on_resolution is not None:
                    on_resolution(r, "measuring")
                whole = set(extra_names.get(r, []))  # the fit's subnets: timed with the blocks, not rows

                def run_session(name: str) -> BenchmarkResult:
                    res = self._session(commands[name], name, tmp, remote)
                    sessions.setdefault(name, []).append(res)
                    return res

                def on_entry(name: str, st: dict[str, float], r: int = r, whole: set[str] = whole) -> None:
                    nonlocal written
                    if name in whole:
                        sessions.pop(name, None)
                        if on_extra is not None:
                            on_extra(name, st)
                        return
                    key = name.split("/", 1)[1]
                    writer.write(Row(key, r, int(st["count"]), st["mean"], st["median"], st["std"],
                                     st["p10"], st["p90"]))
                    written += 1
                    if self.op_profiling:
                        _append_ops(ops_file, key, r, sessions.pop(name))

                # the loop of `protocol.measure` (local runs, the SSH runner), with benchmark_model's
                # session reports pooled by `pool_sessions`
                protocol_mod.measure_sessions([f"{r}/{k}" for k in keys] + extra_names.get(r, []), run_session,
                                              pool_sessions, protocol, guard, on_entry, on_session)
            self._thermal = guard.summary()
            return written
        except DeviceGone as e:
            self._thermal = guard.summary()
            raise DeviceError(f"lost {self.serial} ({e}); {written} new row(s) were kept in {plan.folder}: reconnect "
                              "the device and rerun the same command to resume (only missing keys are measured)") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if remote is not None:
                self._remove(remote)


def _gone(stderr: str) -> bool:
    s = stderr.lower()
    return any(g in s for g in _GONE) and ("error" in s or "adb:" in s)


def _append_ops(path: Path, key: str, r: int, results: list[BenchmarkResult]) -> None:
    with open(path, "a") as f:
        f.writelines(json.dumps({"key": key, "resolution": r, "session": i,
                                "ops": [op.__dict__ for op in res.ops]}) + "\n" for i, res in enumerate(results))
