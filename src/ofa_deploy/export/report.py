"""The export report: `<file>.report.json` beside every exported file.

Why beside the file: the file alone says nothing about which subnet it is. The report carries
the arch and its space (so `ofa-deploy benchmark` can look up the predicted latency), the
supernet it came from, costs, the verification metrics with their tolerances, and versions.

Why it names the file's sha256: a report is only trusted for the very file it was written for.
`publish` moves a verified file and its report to their final names (the old report goes first,
so a reader never meets an old report beside a new file); `load_report` refuses a report whose
sha256 is not the file's (the file was replaced since, or the move was interrupted).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import FormatError
from ..fsio import atomic_write_text, replace, sha256_file
from ..outputs import REPORT_FORMAT as FORMAT
from ..outputs import report_path


def save_report(report: dict[str, Any], model_path: str | os.PathLike) -> Path:
    """Write atomically next to the model file."""
    path = report_path(model_path)
    doc = _finite({"format": FORMAT, "version": 1, **report})
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path


def publish(staged_model: str | os.PathLike, model_path: str | os.PathLike) -> Path:
    """Move a staged file and its staged report to `model_path` and its report name. The report
    already there goes first: between the two renames there is no report, never an old one."""
    staged_model, model_path = Path(staged_model), Path(model_path)
    report_path(model_path).unlink(missing_ok=True)
    replace(staged_model, model_path)
    replace(report_path(staged_model), report_path(model_path))
    return model_path


def load_report(model_path: str | os.PathLike, check_file: bool = True) -> dict[str, Any] | None:
    """The report beside `model_path`, or None when there is none. With `check_file`, a report that
    does not name this file's sha256 is refused (`FormatError`): it describes another file."""
    path = report_path(model_path)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: unreadable export report ({e}); export the file again") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{path} is not an ofa-deploy export report")
    if check_file:
        if not isinstance(doc.get("sha256"), str):
            raise FormatError(f"{path} does not name the sha256 of its file (an older ofa-deploy wrote it), so it "
                              f"may describe another file; export {model_path} again with `ofa-deploy export`")
        if doc["sha256"] != sha256_file(model_path):
            raise FormatError(f"{path} belongs to another file: {model_path} changed after that report was "
                              "written (its sha256 differs); export it again with `ofa-deploy export`")
    return doc


def _finite(o: Any) -> Any:
    """Standard JSON has no Infinity/NaN: such values (a degenerate metric) are written as null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o

