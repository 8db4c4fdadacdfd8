"""A loopback stand-in for a phone's `adbd`, speaking the real adb transport protocol.

The real `adb` client and server talk to it after `adb connect 127.0.0.1:PORT`, exactly as they
talk to a phone over TCP/IP, so the adb backend is tested through the real client. What it
implements (system/core/adb/protocol.txt, SYNC.TXT, shell_protocol.h):

- transport: 24-byte little-endian headers (command, arg0, arg1, length, checksum, magic),
  CNXN / OPEN / OKAY / WRTE / CLSE, one unacknowledged WRTE per stream; payload checksums (byte
  sum) are sent and verified when the negotiated version is below 0x01000001
  (A_VERSION_SKIP_CHECKSUM), as the real daemon does; no AUTH (like a `ro.adb.secure=0` device);
- `shell:` (raw) and `shell,v2,...:` (the shell protocol: stdout/stderr/exit packets) services
  that run the command locally with `sh -c` in a sandbox folder;
- `sync:` with STAT, LIST, SEND/DATA/DONE, RECV and QUIT (push / pull).

Device paths under `/data/local/tmp` and `/sys/class/thermal` are mapped into the sandbox (in
commands and in sync paths), so a test controls the thermal zones and never writes outside it.
`stop()` drops every connection and kills running commands: a phone unplugged mid-run.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

A_SYNC, A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = (
    int.from_bytes(c, "little") for c in (b"SYNC", b"CNXN", b"OPEN", b"OKAY", b"CLSE", b"WRTE", b"AUTH"))
A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024
DEFAULT_PROPS = {
    "ro.product.name": "ofa_stand_in",
    "ro.product.model": "OFA-Stand-In",
    "ro.product.device": "ofa_stand_in",
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.build.version.release": "13",
}
MAPPED = ("/data/local/tmp", "/sys/class/thermal")


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFFFFFF


class Closed(Exception):
    pass


class Stream:
    """One adb stream (socket pair) on the device side."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.incoming: queue.Queue[bytes | None] = queue.Queue()
        self.acked = threading.Event()
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self._buf = bytearray()

    def write(self, data: bytes) -> None:
        step = max(1, min(self.conn.host_max, MAX_PAYLOAD))
        with self.lock:
            for i in range(0, len(data), step):
                if self.closed.is_set():
                    raise Closed
                self.acked.clear()
                self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i:i + step])
                while not self.acked.wait(0.2):
                    if self.closed.is_set() or self.conn.dead.is_set():
                        raise Closed

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.incoming.get()
            if chunk is None:
                raise Closed
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
            self.conn.drop(self.local_id)


class Connection:
    """One transport (the adb server's TCP connection)."""

    def __init__(self, daemon: FakeAdbDaemon, sock: socket.socket):
        self.daemon, self.sock = daemon, sock
        self.version = A_VERSION_MIN
        self.host_max = 4096
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.send_lock = threading.Lock()
        self.dead = threading.Event()
        self.procs: set[subprocess.Popen] = set()

    # ---- framing ------------------------------------------------------------------------------
    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        check = checksum(data) if (cmd == A_CNXN or self.version < A_VERSION_SKIP_CHECKSUM) else 0
        head = struct.pack("<6I", cmd, arg0, arg1, len(data), check, cmd ^ 0xFFFFFFFF)
        with self.send_lock:
            try:
                self.sock.sendall(head + data)
            except OSError:
                self.dead.set()

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Closed
            buf += chunk
        return bytes(buf)

    def serve(self) -> None:
        try:
            while not self.dead.is_set():
                cmd, arg0, arg1, length, check, magic = struct.unpack("<6I", self._recv_exact(24))
                if magic != cmd ^ 0xFFFFFFFF:
                    raise Closed  # invalid header: the protocol says drop the connection
                data = self._recv_exact(length) if length else b""
                checked = cmd == A_CNXN or self.version < A_VERSION_SKIP_CHECKSUM
                if checked and check != checksum(data) and not (cmd == A_CNXN and check == 0):
                    raise Closed  # corrupt payload
                self.daemon.log.append((cmd.to_bytes(4, "little").decode(), arg0, arg1, len(data)))
                self.handle(cmd, arg0, arg1, data)
        except (Closed, OSError):
            pass
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self.dead.set()
        for s in list(self.streams.values()):
            s.closed.set()
            s.incoming.put(None)
        self.streams.clear()
        for p in list(self.procs):
            _kill(p)
        try:
            self.sock.close()
        except OSError:
            pass

    def drop(self, local_id: int) -> None:
        self.streams.pop(local_id, None)

    # ---- messages -----------------------------------------------------------------------------
    def handle(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd == A_CNXN:
            self.version = min(arg0, self.daemon.version)
            self.host_max = arg1
            props = ";".join(f"{k}={v}" for k, v in self.daemon.props.items() if k.startswith("ro.product."))
            banner = f"device::{props};features={','.join(self.daemon.features)}".encode()
            self.send(A_CNXN, self.daemon.version, MAX_PAYLOAD, banner)
        elif cmd == A_OPEN:
            service = data.rstrip(b"\0").decode("utf-8", "replace")
            target = self.daemon.service(service)
            if target is None:
                self.send(A_CLSE, 0, arg0)
                return
            local_id = self.next_id
            self.next_id += 1
            stream = Stream(self, local_id, arg0)
            self.streams[local_id] = stream
            self.send(A_OKAY, local_id, arg0)
            threading.Thread(target=self._run_service, args=(target, stream, service), daemon=True).start()
        elif cmd == A_OKAY:
            s = self.streams.get(arg1)
            if s is not None:
                s.remote_id = arg0
                s.acked.set()
        elif cmd == A_WRTE:
            s = self.streams.get(arg1)
            if s is None:
                self.send(A_CLSE, 0, arg0)
                return
            s.incoming.put(data)
            self.send(A_OKAY, arg1, arg0)
        elif cmd == A_CLSE:
            s = self.streams.pop(arg1, None)
            if s is not None:
                s.closed.set()
                s.incoming.put(None)
        # A_SYNC / A_AUTH: not used by a TCP transport without auth; ignored.

    def _run_service(self, target, stream: Stream, service: str) -> None:
        try:
            target(self, stream, service)
        except Closed:
            pass
        finally:
            stream.close()


class FakeAdbDaemon:
    """`with FakeAdbDaemon(sandbox) as d: ... adb connect 127.0.0.1:{d.port}`."""

    def __init__(self, sandbox: str | os.PathLike, version: int = A_VERSION_SKIP_CHECKSUM, port: int = 0,
                 props: dict[str, str] | None = None, features: tuple[str, ...] = ("shell_v2", "cmd")):
        self.sandbox = Path(sandbox).resolve()
        self.version = version
        self.props = {**DEFAULT_PROPS, **(props or {})}
        self.features = features
        self.log: list[tuple[str, int, int, int]] = []
        self.commands: list[str] = []
        self._port = port
        self._listener: socket.socket | None = None
        self._conns: list[Connection] = []
        self._thread: threading.Thread | None = None
        for sub in MAPPED:
            (self.sandbox / sub.lstrip("/")).mkdir(parents=True, exist_ok=True)
        bindir = self.sandbox / "bin"
        bindir.mkdir(exist_ok=True)
        getprop = bindir / "getprop"
        lines = "\n".join(f'  {k}) echo "{v}" ;;' for k, v in self.props.items())
        listing = "\n".join(f'echo "[{k}]: [{v}]"' for k, v in self.props.items())
        getprop.write_text(f'#!/bin/sh\nif [ $# -eq 0 ]; then\n{listing}\nexit 0\nfi\ncase "$1" in\n{lines}\n'
                           '  *) echo "" ;;\nesac\n')
        getprop.chmod(0o755)

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self._port}"

    def start(self) -> FakeAdbDaemon:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self._port))
        ls.listen(8)
        self._port = ls.getsockname()[1]
        self._listener = ls
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        listener = self._listener
        assert listener is not None
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # stopped while accepting
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock)
            self._conns.append(conn)
            threading.Thread(target=conn.serve, daemon=True).start()

    def stop(self) -> None:
        """The device vanishes: listener closed, transports dropped, running commands killed."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        for c in self._conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.shutdown()
        self._conns.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- services -----------------------------------------------------------------------------
    def map_path(self, path: str) -> str:
        for prefix in MAPPED:
            if path == prefix or path.startswith(prefix + "/"):
                return str(self.sandbox) + path
        return path

    def map_command(self, command: str) -> str:
        for prefix in MAPPED:
            command = command.replace(prefix, str(self.sandbox) + prefix)
        return command

    def service(self, name: str):
        if name.startswith("shell") and ":" in name and name.split(":", 1)[0].split(",")[0] == "shell":
            return _shell
        if name.startswith("exec:"):
            return _shell
        if name == "sync:":
            return _sync
        return None


# ---- shell --------------------------------------------------------------------------------------
def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _shell(conn: Connection, stream: Stream, service: str) -> None:
    head, command = service.split(":", 1)
    args = head.split(",")[1:] if head.startswith("shell") else []
    v2 = "v2" in args
    daemon = conn.daemon
    daemon.commands.append(command)
    if not command.strip():
        if v2:
            stream.write(b"\x03" + struct.pack("<I", 1) + b"\x00")
        return  # interactive shells are not supported
    # The stand-in benchmark_model starts with `#!/usr/bin/env python3`: put the interpreter running the
    # tests (the one with ai_edge_litert installed) first after the sandbox, whatever the caller's PATH.
    path = os.pathsep.join([str(daemon.sandbox / "bin"), os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path,
           "ANDROID_DATA": str(daemon.sandbox / "data")}
    proc = subprocess.Popen(["sh", "-c", daemon.map_command(command)], cwd=daemon.sandbox, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if v2 else subprocess.STDOUT, start_new_session=True)
    conn.procs.add(proc)

    def pump(pipe, pid: int) -> None:
        fd = pipe.fileno()
        while True:
            chunk = os.read(fd, 32 * 1024)
            if not chunk:
                return
            try:
                stream.write(bytes([pid]) + struct.pack("<I", len(chunk)) + chunk if v2 else chunk)
            except Closed:
                _kill(proc)
                return

    pumps = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True)]
    if v2:
        pumps.append(threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True))
    for t in pumps:
        t.start()
    watcher = threading.Thread(target=_watch_close, args=(stream, proc), daemon=True)
    watcher.start()
    for t in pumps:
        t.join()
    rc = proc.wait()
    conn.procs.discard(proc)
    if v2 and not stream.closed.is_set():
        stream.write(b"\x03" + struct.pack("<I", 1) + bytes([rc & 0xFF]))


def _watch_close(stream: Stream, proc: subprocess.Popen) -> None:
    """Kill the command when the client goes away (stream closed); stdin packets are dropped."""
    while proc.poll() is None:
        try:
            chunk = stream.incoming.get(timeout=0.2)
        except queue.Empty:
            continue
        if chunk is None:
            _kill(proc)
            return


# ---- sync ---------------------------------------------------------------------------------------
def _sync(conn: Connection, stream: Stream, service: str) -> None:
    daemon = conn.daemon
    while True:
        ident, length = struct.unpack("<4sI", stream.read_exact(8))
        if ident == b"QUIT":
            return
        if ident in (b"STAT", b"LIST", b"SEND", b"RECV"):
            if length > 4096:
                raise Closed
            arg = stream.read_exact(length).decode("utf-8", "replace")
        else:
            _fail(stream, f"unsupported sync request {ident!r}")
            return
        if ident == b"STAT":
            try:
                st = os.stat(daemon.map_path(arg))
                stream.write(b"STAT" + struct.pack("<3I", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                                                   int(st.st_mtime) & 0xFFFFFFFF))
            except OSError:
                stream.write(b"STAT" + struct.pack("<3I", 0, 0, 0))
        elif ident == b"LIST":
            path = daemon.map_path(arg)
            try:
                names = sorted(os.listdir(path))
            except OSError:
                names = []
            for name in [".", "..", *names]:
                try:
                    st = os.lstat(os.path.join(path, name))
                except OSError:
                    continue
                raw = name.encode()
                stream.write(b"DENT" + struct.pack("<4I", st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                                                   int(st.st_mtime) & 0xFFFFFFFF, len(raw)) + raw)
            stream.write(b"DONE" + struct.pack("<4I", 0, 0, 0, 0))
        elif ident == b"SEND":
            _recv_file(daemon, stream, arg)
        elif ident == b"RECV":
            path = daemon.map_path(arg)
            try:
                with open(path, "rb") as f:
                    while chunk := f.read(SYNC_DATA_MAX):
                        stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
            except OSError as e:
                _fail(stream, f"remote object '{arg}' does not exist ({e.strerror})")
                continue
            stream.write(b"DONE" + struct.pack("<I", 0))


def _recv_file(daemon: FakeAdbDaemon, stream: Stream, spec: str) -> None:
    path, _, mode_s = spec.rpartition(",")
    mode = int(mode_s) if mode_s.isdigit() else 0o644
    target = Path(daemon.map_path(path))
    tmp = target.with_name(target.name + ".ofa-partial")
    error = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        f = open(tmp, "wb")  # noqa: SIM115 (closed below whatever happens)
    except OSError as e:
        error, f = f"cannot create {path}: {e.strerror}", None
    while True:
        ident, length = struct.unpack("<4sI", stream.read_exact(8))
        if ident == b"DATA":
            data = stream.read_exact(length)
            if f is not None:
                f.write(data)
        elif ident == b"DONE":
            break
        else:
            error = error or f"unexpected {ident!r} during SEND"
            break
    if f is not None:
        f.close()
        if error is None:
            os.chmod(tmp, stat.S_IMODE(mode) or 0o644)
            os.replace(tmp, target)
    if error is not None:
        _fail(stream, error)
    else:
        stream.write(b"OKAY" + struct.pack("<I", 0))


def _fail(stream: Stream, message: str) -> None:
    raw = message.encode()
    stream.write(b"FAIL" + struct.pack("<I", len(raw)) + raw)


def adb_available() -> str | None:
    return shutil.which("adb")
