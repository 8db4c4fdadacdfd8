"""`runtime.quiet.captured_output` leaves no logging handler on its closed stream behind.

onnxruntime's quantiser logs on the root logger; inside the block `logging` adds a handler on the
redirected `sys.stderr`, which closes with the block. Left in place, every later root log line
printed a "--- Logging error ---" traceback (seen in bench_int8 after an export).
"""

from __future__ import annotations

import logging

from ofa_deploy.runtime.quiet import captured_output


def test_no_handler_on_the_closed_capture_stream_is_left(capsys):
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        with captured_output() as cap:
            logging.warning("inside the block")  # noqa: LOG015 (the root logger, as onnxruntime logs)
        assert "inside the block" in cap.text
        assert all(not getattr(h, "stream", None) or not h.stream.closed for h in root.handlers)
        logging.warning("after the block")  # noqa: LOG015
        assert "Logging error" not in capsys.readouterr().err
    finally:
        root.handlers[:] = saved
