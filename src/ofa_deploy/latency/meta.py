"""`meta.yaml`: what a latency table was measured on and how (device, runtime, protocol, space,
statistic, calibration), written atomically; and the calibration it may hold."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import LatencyTableError
from ..fsio import atomic_write_text, writer_lock

META_FILE = "meta.yaml"
FORMAT = "ofa-deploy-latency-table"


# ---- calibration ------------------------------------------------------------------------------
def _check_calibration(cal: dict[str, Any]) -> None:
    if not isinstance(cal, dict) or cal.get("kind") != "linear":
        raise LatencyTableError(f"unknown calibration {cal!r}: only kind 'linear' (ms = a * sum + b) is supported")
    for k in ("a", "b"):
        if not isinstance(cal.get(k), (int, float)) or not math.isfinite(cal[k]):
            raise LatencyTableError(f"linear calibration lacks a finite {k!r}: {cal!r}")


def apply_calibration(cal: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    _check_calibration(cal)
    return float(cal["a"]) * np.asarray(raw, dtype=float) + float(cal["b"])


# ---- file helpers -----------------------------------------------------------------------------
def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    doc = {"format": FORMAT, "version": 1, **metadata}
    atomic_write_text(Path(folder) / META_FILE, yaml.safe_dump(_plain(doc), sort_keys=False, default_flow_style=None))


def store_calibration(folder: str | os.PathLike, calibration: dict[str, Any] | None) -> None:
    """Record a fitted calibration in a table folder's `meta.yaml`, under its writer lock; the file
    is read again first, so that nothing another command wrote meanwhile is lost."""
    if calibration is not None:
        _check_calibration(calibration)
    with writer_lock(folder, "latency table"):
        meta = read_metadata(Path(folder))
        meta["calibration"] = calibration
        write_metadata(Path(folder), meta)


def store_metadata(folder: str | os.PathLike, **updates: Any) -> None:
    """Set top-level `meta.yaml` entries (e.g. `validation`) under the table's writer lock; the file
    is read again first so that nothing another command wrote meanwhile is lost."""
    with writer_lock(folder, "latency table"):
        meta = read_metadata(Path(folder))
        meta.update(updates)
        write_metadata(Path(folder), meta)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def read_metadata(folder: Path) -> dict[str, Any]:
    p = Path(folder) / META_FILE
    if not p.exists():
        raise LatencyTableError(f"{folder}: no {META_FILE}; not a latency table folder (or profiling never started)")
    if not p.is_file():
        raise LatencyTableError(f"{p} is not a file; a table folder holds {META_FILE} and table.csv files")
    try:
        doc = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise LatencyTableError(f"{p}: corrupt metadata ({str(e).splitlines()[0]}); re-run the profile "
                                "or restore the file") from None
    except OSError as e:
        raise LatencyTableError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LatencyTableError(f"{p}: not an ofa-deploy latency table metadata file (format {FORMAT!r})")
    if doc.get("version") != 1:
        raise LatencyTableError(f"{p}: table version {doc.get('version')} is not supported (1)")
    for k in ("device", "spec"):
        if k not in doc:
            raise LatencyTableError(f"{p}: metadata lacks {k!r}")
    doc.pop("format")
    doc.pop("version")
    return doc


__all__ = ["FORMAT", "META_FILE", "apply_calibration", "read_metadata", "store_calibration", "store_metadata",
           "write_metadata"]
