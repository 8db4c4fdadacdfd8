"""A free TCP port on 127.0.0.1 for a server a test starts (sshd, the adb server, torchrun's rendezvous).

The OS picks it (bind to port 0), so tests running at the same time (pytest-xdist workers, another
session on the machine) do not pick the same one, as a fixed number or `base + pid % 1000` could.
The port is free when returned; the server binds it a moment later (the usual small race, accepted)."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
