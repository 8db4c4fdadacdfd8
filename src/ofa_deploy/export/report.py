"""The export report: `<file>.report.json` beside every exported file.

Why beside the file: the file alone says nothing about which subnet it is. The report carries
the arch and its space (so `ofa-deploy benchmark` can look up the predicted latency), the
supernet it came from, costs, the verification metrics with their tolerances, and versions.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import FormatError

SUFFIX = ".report.json"
FORMAT = "ofa-deploy-export-report"


def report_path(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    return p.with_name(p.name + SUFFIX)


def save_report(report: dict[str, Any], model_path: str | os.PathLike) -> Path:
    """Write atomically next to the model file."""
    path = report_path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    doc = _finite({"format": FORMAT, "version": 1, **report})
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def load_report(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """The report beside `model_path`, or None when there is none."""
    path = report_path(model_path)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FormatError(f"{path}: unreadable export report ({e}); export the file again") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError(f"{path} is not an ofa-deploy export report")
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

