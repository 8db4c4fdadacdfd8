"""Drift is detected, not hidden: every end-to-end measurement of a subnet (`benchmark`, a verified
`search`) is compared with the table's prediction and with the band of measured / predicted that
`latency validate` established on held-out subnets (`meta.yaml` `validation.ratio_band`).

A ratio outside the band means the table no longer describes the device (another runtime, thermal
state, load, a changed OS): the caller says so in one line. Each check is appended to the table's
dated log, `checks.csv` in its writable folder (a shipped table's: the user's folder for its device
and space), under the table's writer lock, so the history of a table's trust is kept.
"""

from __future__ import annotations

import csv
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..fsio import atomic_write_text, writer_lock
from ..rowfile import read_complete
from ..space import spec_from_dict
from .table import default_table_dir

LOG_FILE = "checks.csv"
HEADER = ["time", "command", "subject", "predicted_ms", "measured_ms", "ratio", "band_low", "band_high", "in_band"]
ADVICE = ("profile the device again (`ofa-deploy profile --fresh`), or correct the table with "
          "`ofa-deploy latency validate --calibrate`")


@dataclass(frozen=True)
class DriftCheck:
    predicted_ms: float
    measured_ms: float
    band: tuple[float, float] | None  # None: the table was never validated

    @property
    def ratio(self) -> float:
        return self.measured_ms / self.predicted_ms

    @property
    def in_band(self) -> bool | None:
        return None if self.band is None else self.band[0] <= self.ratio <= self.band[1]

    def message(self, subject: str) -> str | None:
        """One line when the ratio leaves the validated band, else None."""
        if self.in_band is not False:
            return None
        lo, hi = self.band  # type: ignore[misc]
        return (f"drift: {subject} measured {self.measured_ms:.3f} ms, predicted {self.predicted_ms:.3f} ms "
                f"(ratio {self.ratio:.3f}, outside the table's validated {lo:.3f}..{hi:.3f}); {ADVICE}")

    def to_dict(self) -> dict[str, Any]:
        return {"predicted_ms": self.predicted_ms, "measured_ms": self.measured_ms, "ratio": self.ratio,
                "band": list(self.band) if self.band else None, "in_band": self.in_band}


def validated_band(metadata: dict[str, Any]) -> tuple[float, float] | None:
    band = (metadata.get("validation") or {}).get("ratio_band")
    return (float(band[0]), float(band[1])) if band else None


def log_folder(table_folder: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """The table's writable folder: its own, unless it ships with the package."""
    folder = Path(table_folder)
    if paths.is_shipped(folder):
        return default_table_dir(metadata["device"], spec_from_dict(metadata["spec"]))
    return folder


def check(table_folder: str | os.PathLike | None, metadata: dict[str, Any], command: str, subject: str,
          predicted_ms: float, measured_ms: float) -> DriftCheck:
    """Compare one measurement with its prediction and append the check to the table's log
    (skipped when the table has no folder, e.g. official YAML tables imported on the fly)."""
    c = DriftCheck(float(predicted_ms), float(measured_ms), validated_band(metadata))
    if table_folder is not None and metadata.get("device") and metadata.get("spec"):
        append_log(log_folder(table_folder, metadata), command, subject, c)
    return c


def append_log(folder: Path, command: str, subject: str, c: DriftCheck) -> Path:
    """Append one row to `checks.csv` (written whole and atomically under the table's lock)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    with writer_lock(folder, "latency table"):
        old = read_complete(path, "skip").data.decode("utf-8", errors="replace")  # a torn tail is dropped
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if not old:
            w.writerow(HEADER)
        lo, hi = c.band if c.band else ("", "")
        w.writerow([time.strftime("%Y-%m-%dT%H:%M:%S"), command, subject, f"{c.predicted_ms:.4f}",
                    f"{c.measured_ms:.4f}", f"{c.ratio:.4f}", lo, hi, "" if c.in_band is None else c.in_band])
        atomic_write_text(path, old + buf.getvalue())
    return path


def read_log(folder: str | os.PathLike) -> list[dict[str, str]]:
    path = Path(folder) / LOG_FILE
    if not path.exists():
        return []
    return list(csv.DictReader(path.read_text().splitlines()))
