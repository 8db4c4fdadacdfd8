"""`ofa-deploy export`'s options checked into an `ExportOptions` (the command passes what it parsed).

Each value is checked in the order the options are listed; a bad one raises `BadValueError` (one
line, exit 2) before anything is read.
"""

from __future__ import annotations

from pathlib import Path

from .. import checks
from ..errors import BadValueError
from .inputs import BnOptions
from .parity import RTOL, Tolerance
from .pipeline import ExportOptions


def tolerance(rtol: float | None, atol: float | None) -> Tolerance | None:
    """--rtol / --atol as a `parity.Tolerance`, None when neither is given (the defaults)."""
    if rtol is None and atol is None:
        return None
    return Tolerance(RTOL if rtol is None else rtol, atol or 0.0)


def bn_options(images: int | None, batch: int, transform: str | None) -> BnOptions:
    """Checked --bn-images / --bn-batch / --bn-transform."""
    if images is not None:
        checks.count(images, "--bn-images", checks.MAX_IMAGES)
    checks.count(batch, "--bn-batch", 100000)
    if transform not in (None, "train", "eval"):
        raise BadValueError(f"--bn-transform {transform!r}: choose train or eval")
    return BnOptions(images, batch, transform)


def export_options(fmt: str, subnet: Path | None, int8: bool, dynamic_range: bool, supernet: Path | None,
                   out: Path | None, recalibrate: bool, data: Path | None, dynamic_batch: bool, verify_images: int,
                   force: bool, bn_images: int | None, bn_batch: int, bn_transform: str | None,
                   workers: int | None, skip_bad_images: bool, threads: int | None, rtol: float | None,
                   atol: float | None, max_drop: float, calibration_images: int,
                   over_budget: bool = False) -> ExportOptions:
    """The checked options of one export (see `ExportOptions` for each field)."""
    return ExportOptions(fmt, subnet, int8, dynamic_range, supernet, out, recalibrate, data, dynamic_batch,
                         verify_images, force, bn_options(bn_images, bn_batch, bn_transform),
                         checks.count(workers, "--workers", 64, lo=0, optional=True), skip_bad_images,
                         checks.threads(threads), tolerance(rtol, atol), max_drop,
                         checks.count(calibration_images, "--calibration-images", checks.MAX_IMAGES),
                         over_budget=over_budget)
