"""The commands' timing options (`--sessions`, `--max-runs`, `--seed`) as one checked `Protocol`.

Kept out of `protocol.py`, which stays standard-library only (it is copied verbatim next to the
remote runner)."""

from __future__ import annotations

from typing import Any

from ..checks import protocol_options
from ..errors import BadValueError
from .protocol import Protocol


def protocol_for(sessions: Any = 3, max_runs: Any = 200, seed: Any = 0) -> Protocol:
    """`Protocol.for_runs` of the options, checked first; counts no protocol takes raise
    `BadValueError` (one line, exit 2) with the protocol's own message."""
    sessions, max_runs, seed = protocol_options(sessions, max_runs, seed)
    try:
        return Protocol.for_runs(sessions, max_runs, seed)
    except ValueError as e:
        raise BadValueError(str(e)) from None
