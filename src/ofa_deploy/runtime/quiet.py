"""Run a converter quietly, keeping what it printed for the error message when it fails.

litert-torch and ai-edge-quantizer print progress lines, tqdm bars, absl/TFLite C++ logs and
FutureWarnings, partly from C++ straight to file descriptors 1 and 2 (not through `sys.stdout`).
`ofa-deploy export --json` promises a clean stdout, so the descriptors themselves are redirected
to a temporary file; on failure the tail of that file says what the converter complained about.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import TypeVar

from ..errors import ExportError, OfaDeployError
from ..fsio import is_space_error

T = TypeVar("T")


class Captured:
    """What the wrapped code printed; filled when the `captured_output` block ends."""

    text: str = ""

    def tail(self, lines: int = 8) -> str:
        kept = [line for line in self.text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


@contextmanager
def captured_output() -> Iterator[Captured]:
    """Send fds 1 and 2 (C++ logs), `sys.stdout`/`sys.stderr` and Python warnings to a temporary
    file for the block's duration."""
    cap = Captured()
    _flush()
    saved = (os.dup(1), os.dup(2))
    root_handlers = list(logging.getLogger().handlers)
    with tempfile.TemporaryFile() as log, open(log.fileno(), "w", buffering=1, closefd=False) as text:
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            # sys.stdout / sys.stderr may not write to fds 1 and 2 (pytest, notebooks): redirect them too.
            with warnings.catch_warnings(), redirect_stdout(text), redirect_stderr(text):
                warnings.simplefilter("ignore")
                yield cap
        finally:
            _flush()  # Python-level buffers go to the log, not to the restored terminal
            text.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            # A library that logs on the root logger without handlers (onnxruntime's quantiser) makes
            # `logging` add a handler on the redirected sys.stderr, which closes here: every later root
            # log line would then print a "Logging error" traceback. Such handlers go with the block.
            for h in logging.getLogger().handlers[:]:
                if h not in root_handlers and getattr(h, "stream", None) is text:
                    logging.getLogger().removeHandler(h)
            log.seek(0)
            cap.text = log.read().decode(errors="replace")


def run_quietly(what: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """`fn(*args, **kwargs)` with its output captured; an unexpected failure becomes an
    `ExportError` naming `what` and quoting the last lines the converter printed."""
    cap = Captured()
    try:
        with captured_output() as cap:
            return fn(*args, **kwargs)
    except OfaDeployError:
        raise
    except Exception as e:  # converters raise anything from RuntimeError to absl status errors
        if is_space_error(e):
            raise  # a full disk is not our bug: `fsio.atomic_path` around the converter says it in one line
        if "No space left on device" in str(e) or "Disk quota exceeded" in str(e):  # said by C++ code
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from e
        tail = cap.tail()
        raise ExportError(f"{what} failed: {type(e).__name__}: {e}" + (f" (converter output: {tail})" if tail else "")
                          + "; please report it with the subnet file") from e
