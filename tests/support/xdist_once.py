"""Parallel test runs (pytest-xdist: `make test` and `make test-fast` run `-n auto --dist loadfile`).

`once_per_run(tmp_path_factory, name, make)`: a folder made once per test run. Under xdist every worker is
its own session, so a session fixture is made once per worker; this one is made by the first worker to ask,
under a file lock in the run's temporary root (`pytest-N/`, shared by the workers' `pytest-N/popen-gwK/`),
and the others wait for it and then read it. Without xdist it is a plain session folder. A try that fails
leaves no completion mark, so the next worker to ask makes it again. `run_root` is that shared folder
(the block-export memo keeps its files there: `support/onnx_memo.py`).

Why `--dist loadfile` and not per-test distribution: a module's tests stay on one worker, so a
module-scoped fixture (an exported subnet, a converted model, an sshd, the emulated board) is built once,
as in a serial run. (`--dist loadgroup` with `xdist_group` marks would allow finer grouping, but with
pytest 9.2 and pytest-xdist 3.8 the groups are silently ignored: pytest-xdist issue #1386.)"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

_DONE = ".made-once"


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of the whole run: the workers' common parent under xdist, else the session's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    base = run_root(tmp_path_factory)
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the worker dies)
        if not (folder / _DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed try left
            folder.mkdir()
            make(folder)
            (folder / _DONE).touch()
    return folder
