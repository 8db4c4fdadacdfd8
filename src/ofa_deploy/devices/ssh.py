"""Profiling on a Linux device over SSH (Raspberry Pi 4/5, Jetson, any board with Python 3).

Why the system OpenSSH client (`ssh`) and not paramiko or asyncssh: it is what the user already
configured and trusts. It honours `~/.ssh/config` in full (Host aliases, ProxyJump, Match,
IdentityFile, per-host users and ports), the ssh-agent, hardware keys and certificates, and
`known_hosts` with hashed entries, exactly as `ssh HOST` does in a terminal; paramiko reads only
part of `ssh_config` (no Match, partial ProxyJump) and asyncssh is not installed. We never see a
password or a key: `BatchMode=yes` forbids prompts, so authentication is by key or agent only.

Host keys are always verified: `StrictHostKeyChecking=yes` is forced on the command line (it wins
over any `~/.ssh/config` setting), and an unknown host is accepted only with
`accept_new_host_key=True` (`--accept-new-host-key`: OpenSSH's `accept-new`, which still refuses
a *changed* key).

One connection and one remote process per profiling run, not one per block:
- `info()` starts the one `ssh` process (one connection) and in it the one remote Python: it
  sends the runner's source on stdin (`remote_runner.py`: stdlib + numpy + the runtime, nothing
  to install beforehand), and the runner answers at once with what the device has (CPU model,
  governors, temperature, runtime and its version; a device without the runtime gets an error
  saying what to install), then starts importing the runtime and waits for its bundle;
- `measure_plan()` streams that same process one bundle as a tar (`devices.bundle`: the
  protocol, the run settings, the missing block models as they are exported, then the in-context
  fit's whole subnets if any (`profile --method fit`: timed in the same run, after the blocks of
  their resolution), the manifest last), so the transfer overlaps the local export. The runner measures everything with the shared
  protocol and streams one JSON line per finished entry; each row is appended to the table at
  once (the profiler's `RowWriter`), so a dropped connection loses nothing measured, and a rerun
  sends and measures only the keys still missing. The remote folder is removed when the runner
  ends, whichever way it ends.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DeviceError
from ..latency.table import Row
from .backend import Capabilities
from .bundle import RUNNER, TarStream, build_bundle
from .descriptor import DeviceDescriptor

FORMATS = {"tflite": "tflite", "onnxruntime": "onnx"}
DEFAULT_WORKDIR = "~/.cache/ofa-deploy"
# What the remote Python runs: read the runner's source (length-prefixed) from stdin and run it;
# the runner then reads the bundle from the same stdin.
BOOT = ("import os, sys; n = int(sys.stdin.buffer.readline()); src = sys.stdin.buffer.read(n); "
        "g = {'__name__': '__main__', '__file__': os.path.abspath('remote_runner.py')}; "
        "exec(compile(src, 'remote_runner.py', 'exec'), g)")
_SECRETS = re.compile(r"[A-Za-z0-9+/=]{40,}")


def scrub(text: str) -> str:
    """Drop anything that could be key material from text we show (ssh's stderr, remote errors)."""
    out = []
    for line in text.splitlines():
        if "PRIVATE KEY" in line or "BEGIN " in line or "password" in line.lower():
            continue
        out.append(_SECRETS.sub("<redacted>", line))
    return "\n".join(out)


def _own_descriptor(device: DeviceDescriptor) -> str:
    """Where the user sets a host: their own copy of a shipped descriptor (never the install tree)."""
    from ..paths import is_shipped, user_devices_dir

    src = device.source
    if src is None or is_shipped(src):
        return f"your own descriptor {user_devices_dir() / (device.name + '.yaml')}, a copy of the shipped one"
    return str(src)


@dataclass(frozen=True)
class SshTarget:
    """Where to connect: a host name or `~/.ssh/config` alias, with an optional user and port."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str, user: str | None = None, port: int | None = None) -> SshTarget:
        """`host`, `user@host`, `user@host:port`, `[v6addr]:port`, `ssh://user@host:port`."""
        t = text.strip()
        if t.startswith("ssh://"):
            t = t[len("ssh://"):].rstrip("/")
        if "@" in t:
            user, t = t.rsplit("@", 1)
        if t.startswith("["):
            host, _, rest = t[1:].partition("]")
            if rest.startswith(":"):
                port = _port(rest[1:], text)
        elif t.count(":") == 1:
            host, p = t.split(":")
            port = _port(p, text)
        else:
            host = t
        if not host or any(c.isspace() for c in host) or host.startswith("-"):
            raise DeviceError(f"cannot read the ssh host {text!r}: write user@host, user@host:port or an alias "
                              "from ~/.ssh/config")
        return cls(host, user or None, port)

    def __str__(self) -> str:
        s = f"{self.user}@{self.host}" if self.user else self.host
        return f"{s}:{self.port}" if self.port else s


def _port(p: str, text: str) -> int:
    if not p.isdigit() or not 0 < int(p) < 65536:
        raise DeviceError(f"cannot read the port of ssh host {text!r}: write user@host:22")
    return int(p)


class SshBackend:
    """Measures a whole profile plan on an SSH device (see the module docstring)."""

    kind = "ssh"
    capabilities = Capabilities(files=(".onnx", ".tflite"), bundled=True)

    def __init__(self, device: DeviceDescriptor, host: str | None = None, runtime: str | None = None,
                 threads: int | None = None, accept_new_host_key: bool = False, ssh: str = "ssh",
                 ssh_options: tuple[str, ...] = (), connect_timeout: float = 10.0,
                 cache: str | os.PathLike | None = None):
        self.device = device
        where = host or device.host
        if not where:
            raise DeviceError(f"device {device.name!r} has no host: pass --host user@host[:port] "
                              f"(or set host: in {_own_descriptor(device)})")
        self.target = SshTarget.parse(where, device.user, device.port)
        self.runtime = runtime or device.runtime
        if self.runtime not in FORMATS:
            raise DeviceError(f"device {device.name!r}: the ssh backend runs tflite or onnxruntime on the device, "
                              f"not {self.runtime!r}")
        if device.precision not in ("fp32", "int8"):  # int8: the bundle ships int8 files (`int8_bundle`)
            raise DeviceError(f"device {device.name!r}: block models are exported in fp32 or int8, not {device.precision}")
        self.precision = device.precision
        self.threads = threads or device.threads
        self.accept_new = accept_new_host_key
        self.ssh = shutil.which(ssh)
        if self.ssh is None:
            raise DeviceError("the OpenSSH client `ssh` is not installed: apt install openssh-client")
        extra = device.extra or {}
        opts = list(ssh_options)
        if extra.get("ssh_config"):
            opts = ["-F", str(Path(str(extra["ssh_config"])).expanduser()), *opts]
        for o in extra.get("ssh_options", []) or []:
            opts += ["-o", str(o)]
        self.ssh_options = tuple(opts)
        self.connect_timeout = connect_timeout
        self.python = device.python or "python3"
        self.workdir = device.workdir or DEFAULT_WORKDIR
        self.cache = cache
        self.fmt = FORMATS[self.runtime]
        self.needs_onnx = self.fmt == "onnx"  # what the runner times: ONNX graphs, or modules converted to .tflite
        self._info: dict[str, Any] | None = None
        self._proc: subprocess.Popen | None = None
        self._tail: deque[str] = deque(maxlen=20)
        self._drain: threading.Thread | None = None
        self._finalizer: weakref.finalize | None = None
        self._thermal: dict[str, Any] | None = None

    # ---- the one connection and the one remote process ----------------------------------------
    def _command(self, remote_command: str) -> list[str]:
        cmd = [self.ssh, "-o", "BatchMode=yes",
               "-o", f"StrictHostKeyChecking={'accept-new' if self.accept_new else 'yes'}",
               "-o", f"ConnectTimeout={int(self.connect_timeout)}",
               "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR",
               *self.ssh_options]
        if self.target.port:
            cmd += ["-p", str(self.target.port)]
        if self.target.user:
            cmd += ["-l", self.target.user]
        return [*cmd, "-T", "--", self.target.host, remote_command]

    def _settings(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "threads": self.threads,
                "cores": list(self.device.cores) if self.device.cores else None,
                "delegate": self.device.delegate, "guard": dict(self.device.guard or {})}

    def _workdir_sh(self) -> str:
        w = self.workdir
        if w == "~" or w.startswith("~/"):
            return '"$HOME"' + (shlex.quote(w[1:]) if len(w) > 1 else "")
        return shlex.quote(w)

    def _start(self) -> dict[str, Any]:
        """Connect, start the runner (its source goes first on stdin) and read its device report."""
        self.close()
        d = f"{self._workdir_sh()}/bundle-{uuid.uuid4().hex[:16]}"
        # The runner is the shell's child, not exec'd: a runner killed by a signal then shows as the
        # shell's status 128+N (ssh itself would exit 255, like a lost connection), and the shell
        # removes the bundle folder however the runner ended (the runner removes it too when it can).
        remote = (f"umask 077; d={d}; rm -rf \"$d\" && mkdir -p \"$d\" && cd \"$d\" || exit 90; "
                  "trap 'cd /; rm -rf \"$d\"' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; "
                  f"{shlex.quote(self.python)} -u -c {shlex.quote(BOOT)} --stdin-bundle . "
                  f"--settings {shlex.quote(json.dumps(self._settings()))}; exit $?")
        proc = subprocess.Popen(self._command(remote), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self._proc, self._tail = proc, deque(maxlen=20)
        self._drain = threading.Thread(target=_drain, args=(proc.stderr, self._tail), daemon=True)
        self._drain.start()
        self._finalizer = weakref.finalize(self, _stop, proc)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            src = RUNNER.read_bytes()
            proc.stdin.write(f"{len(src)}\n".encode() + src)
            proc.stdin.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # ssh or the remote shell already gave up: its exit status says why
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if msg.get("t") == "info":
                msg.pop("t")
                return msg
            if msg.get("t") == "error":
                self.close()
                raise DeviceError(f"{self.target}: {scrub(str(msg.get('message', '')))}")
        rc = proc.wait()
        self._drain.join(timeout=2)
        text = "\n".join(self._tail)
        self.close()
        raise DeviceError(self._connect_error(text) if rc == 255 else self._remote_failure(rc, text))

    def _connect_error(self, stderr: str) -> str:
        t, text = str(self.target), scrub(stderr)
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "host key for" in text.lower() and "changed" in text:
            return (f"the host key of {t} has CHANGED since it was recorded in known_hosts (a reinstalled device, "
                    f"or someone in between): check it, then remove the old entry with `ssh-keygen -R "
                    f"{self.target.host}`; --accept-new-host-key does not accept a changed key")
        if "Host key verification failed" in text or "host key is known" in text:
            return (f"the host key of {t} is not in known_hosts: check its fingerprint and connect once with "
                    f"`ssh {t}`, or pass --accept-new-host-key to record it on first use")
        if "Permission denied" in text:
            return (f"{t} refused our keys: install your public key there (`ssh-copy-id {t}`) or load it into "
                    "ssh-agent; password logins are not used (BatchMode)")
        last = [ln for ln in text.splitlines() if ln.strip()]
        reason = last[-1] if last else "ssh exited without a message"
        if "Could not resolve" in text or "Connection refused" in text or "timed out" in text or "No route" in text:
            return f"cannot reach {t}: {reason} (check --host, the network, and that sshd runs there)"
        return f"ssh to {t} failed: {reason}"

    def _remote_failure(self, rc: int, stderr: str) -> str:
        tail = [ln for ln in scrub(stderr).splitlines() if ln.strip()][-3:]
        if rc == 90:
            return f"cannot create a folder in {self.workdir} on {self.target} ({' | '.join(tail) or 'no message'})"
        if rc == 127 or any("not found" in ln for ln in tail):
            return (f"{self.target}: cannot run {self.python!r} ({' | '.join(tail) or 'not found'}): install Python 3 "
                    "with numpy there (apt install python3 python3-numpy), or set python: in the device descriptor")
        if rc == 255:
            return f"lost the ssh connection to {self.target} ({' | '.join(tail) or 'no message'})"
        said = f"; its last stderr lines: {' | '.join(tail)}" if tail else " (it wrote nothing on stderr)"
        if 128 < rc < 128 + 65:
            try:
                name = signal.Signals(rc - 128).name
            except ValueError:
                name = f"signal {rc - 128}"
            return (f"the runner on {self.target} was killed by {name} (signal {rc - 128}) under {self.python}"
                    f"{said}; check that its runtime ({self.runtime}) works there: `{self.python} -c 'import "
                    f"{'onnxruntime' if self.runtime == 'onnxruntime' else 'ai_edge_litert'}'`")
        return f"the runner on {self.target} exited with status {rc}{said}"

    def close(self) -> None:
        """End the runner (if it still waits for a bundle) and the connection."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None

    # ---- backend interface --------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        if self._info is None:
            info = self._start()
            self._info = {"backend": "ssh", "host": str(self.target), **info, "threads": self.threads,
                          "delegate": self.device.delegate, "format": self.fmt}
        return dict(self._info)

    def open(self, model: Any) -> Any:
        raise DeviceError(f"device {self.device.name!r} is measured over ssh one bundle at a time (profile, "
                          "latency validate, search --verify); single models cannot be opened there")

    def run_metadata(self) -> dict[str, Any]:
        """What the last run learnt about the device's temperature (for the table's metadata)."""
        return {"remote_thermal": self._thermal} if self._thermal else {}

    def measure_plan(self, plan: Any, spec: Any, net: Any, protocol: Any, writer: Any,
                     on_session: Callable[[str], None] | None = None,
                     on_resolution: Callable[[int, str], None] | None = None,
                     blocks: list[Any] | None = None, extra: list[Any] | None = None,
                     on_extra: Callable[[str, dict[str, float]], None] | None = None) -> int:
        """Stream one bundle of the plan's missing keys to the remote runner, which measures it all;
        append rows as they arrive. Returns the rows written; a lost connection raises
        `DeviceError` after keeping every row received. `blocks`: the plan's block models, already
        exported (else they are made here); `extra`: whole models timed in the same bundle and run
        (the in-context fit's subnets), whose statistics go to `on_extra(name, stats)` as each
        chunk ends instead of becoming rows."""
        self.info()
        if self._proc is None or self._proc.poll() is not None:
            self._start()  # a second plan on the same backend: a fresh runner
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        tmp = tempfile.mkdtemp(prefix="ofa-bundle-")
        extra_names = {m.name for m in extra or []}

        def on_row(msg: dict[str, Any]) -> bool:
            st = msg["stats"]
            if msg["n"] in extra_names:
                if on_extra is not None:
                    on_extra(msg["n"], st)
                return False  # not a row of the table
            writer.write(Row(msg["key"], int(msg["r"]), int(st["count"]), st["mean"], st["median"],
                             st["std"], st["p10"], st["p90"]))
            return True

        try:
            from .int8_bundle import bundle_block_models  # torch: imported when a profile runs

            models = bundle_block_models(plan, spec, net, self.fmt, blocks, self.cache, on_resolution)
            sent = self._send(proc.stdin, plan.todo, spec, net, protocol, Path(tmp), on_resolution, models=models,
                              extra=extra)
            if on_resolution is not None and sent is not None:
                on_resolution(next(iter(plan.todo)), f"sent {sent / 1e6:.1f} MB")
            kept = (f"{{n}} new row(s) were kept in {plan.folder}: rerun the same command to resume (only the "
                    "missing keys are sent and measured)")
            return self._receive(proc, on_row, kept, on_session, on_resolution)
        finally:
            self.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def measure_models(self, models: list[Any], protocol: Any,
                       on_session: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
        """Time whole models (`BlockModel`s with a module: the subnets of `latency validate` and
        `search --verify`) on the device, with the protocol, in one bundle and one remote run, as
        profiling does; returns their statistics (ms) by model key."""
        self.info()
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        tmp = tempfile.mkdtemp(prefix="ofa-bundle-")
        out: dict[str, dict[str, float]] = {}
        try:
            self._send(proc.stdin, {}, None, None, protocol, Path(tmp), None, models=models)
            self._receive(proc, lambda msg: out.__setitem__(msg["key"], msg["stats"]),
                          "{n} of the models were measured: rerun the command", on_session, None)
            return out
        finally:
            self.close()
            shutil.rmtree(tmp, ignore_errors=True)

    def _send(self, stdin: Any, todo: dict[int, list[str]], spec: Any, net: Any, protocol: Any, tmp: Path,
              on_resolution: Callable[[int, str], None] | None, models: list[Any] | None = None,
              extra: list[Any] | None = None) -> int | None:
        """The bundle as a tar stream, model by model as they are exported. Returns the bytes sent,
        or None if the remote side went away (`_receive` reports why)."""
        def progress(r: int, done: int, total: int, hit: bool) -> None:
            if on_resolution is not None:
                on_resolution(r, f"{self.fmt} models {done}/{total}")

        stream = TarStream(stdin, tmp)
        try:
            build_bundle(todo, spec, net, self.fmt, tmp, self.cache, progress,
                         run_config={**self._settings(), "protocol": protocol.to_dict()}, on_file=stream.add,
                         models=models, extra=extra)
            stream.close()
            stdin.close()
            return stream.nbytes
        except (BrokenPipeError, ConnectionResetError, ValueError) as e:
            if isinstance(e, ValueError) and not stdin.closed:
                raise  # not "write to closed file": a real error
            stream.abandon()
            return None

    def _receive(self, proc: subprocess.Popen, on_row: Callable[[dict[str, Any]], Any], kept: str,
                 on_session: Callable[[str], None] | None, on_resolution: Callable[[int, str], None] | None) -> int:
        """Read the runner's lines until it ends; `on_row(msg)` per finished entry (False: an entry
        that is not a table row). Returns the rows received; a failure raises `DeviceError` ending
        with `kept` (`{n}`: the rows received)."""
        written, done, error = 0, False, None
        assert proc.stdout is not None
        for raw in proc.stdout:
            if not raw.endswith(b"\n"):
                break  # cut in the middle of a line: the connection dropped
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            kind = msg.get("t")
            if kind == "row":
                written += on_row(msg) is not False
            elif kind == "s" and on_session is not None:
                on_session(msg["n"])
            elif kind == "res" and on_resolution is not None:
                on_resolution(int(msg["r"]), "measuring")
            elif kind == "done":
                done = True
                self._thermal = msg.get("thermal")
            elif kind == "guard":
                self._thermal = {**(self._thermal or {}), "last_cooldown": msg}
            elif kind == "error":
                error = scrub(str(msg.get("message", "")))
        rc = proc.wait()
        if self._drain is not None:
            self._drain.join(timeout=2)
        if done and rc == 0:
            return written
        if error is not None:
            raise DeviceError(f"{self.target}: {error}")
        reason = self._remote_failure(rc, "\n".join(self._tail))
        raise DeviceError(f"{reason}; {kept.format(n=written)}")


def _drain(pipe: Any, tail: deque[str]) -> None:
    for raw in pipe:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def _stop(proc: subprocess.Popen) -> None:
    """Close the runner's stdin (a runner still waiting for its bundle then ends and cleans up),
    give it a moment, then end the ssh process."""
    if proc.poll() is None:
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            pass
    _kill_group(proc)
