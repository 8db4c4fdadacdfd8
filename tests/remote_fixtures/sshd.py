"""A throwaway OpenSSH server on 127.0.0.1 for the SSH backend's tests.

Everything lives in a temporary folder: a fresh host key, a fresh user key (authorized for the
current user), an `sshd_config` (`UsePAM no`, `StrictModes no`, keys only) and an `ssh_config`
for the client that points at the user key and a private `known_hosts`, so the tests never read
or write `~/.ssh`. `sshd -D -e -f` keeps the server in the foreground: the test owns its process,
and `drop_connections()` kills the per-connection sshd children (a cable pulled mid-run).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.ports import free_port

SSHD = "/usr/sbin/sshd"


def unavailable() -> str | None:
    """Why an sshd cannot be started here (None if it can)."""
    if not Path(SSHD).exists():
        return f"{SSHD} is missing (apt install openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (apt install openssh-client)"
    if not Path("/run/sshd").is_dir():
        if os.geteuid() != 0:
            return "sshd needs its privilege-separation folder /run/sshd, which only root can create"
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    return None


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ofa-test", "-f", str(path)], check=True)


class LoopbackSshd:
    def __init__(self, folder: str | os.PathLike):
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = self.dir / "host_key"
        self.user_key = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.ssh_config = self.dir / "ssh_config"
        self.proc: subprocess.Popen | None = None
        keygen(self.host_key)
        keygen(self.user_key)
        (self.dir / "authorized_keys").write_text((self.dir / "id_ed25519.pub").read_text())
        (self.dir / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}", "UsePAM no", "StrictModes no",
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "MaxSessions 20", "LogLevel INFO", "",
        ]))
        self.known_hosts.touch()
        self.ssh_config.write_text("\n".join([
            "Host *", f"  IdentityFile {self.user_key}", "  IdentitiesOnly yes", "  IdentityAgent none",
            f"  UserKnownHostsFile {self.known_hosts}", "  GlobalKnownHostsFile /dev/null", "",
        ]))

    @property
    def host(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def start(self) -> LoopbackSshd:
        log = open(self.dir / "sshd.log", "ab")  # noqa: SIM115 (the server writes it until stop)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not start: {(self.dir / 'sshd.log').read_text()[-500:]}")

    def logins(self) -> int:
        """Connections authenticated so far (sshd logs one "Accepted publickey" line each)."""
        log = self.dir / "sshd.log"
        return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0

    def record_host_key(self) -> None:
        """What `ssh` would write after a first, verified connection."""
        pub = (self.dir / "host_key.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n")

    def children(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        if self.proc is None:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True,
                             check=False)
        return [int(x) for x in out.stdout.split()]

    def drop_connections(self) -> int:
        kids = self.children()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(kids)

    def stop(self) -> None:
        if self.proc is not None:
            self.drop_connections()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
