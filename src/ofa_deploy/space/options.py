"""The space a command's `--width` / `--classes` / `--in-channels` / `--kind` / `--supernet` describe."""

from __future__ import annotations

from pathlib import Path

from .. import checks
from .family import FamilySpec
from .mobilenet.spec import SpaceSpec


def space_from_options(width: float | None, classes: int | None, in_channels: int | None,
                       supernet: Path | None, kind: str | None = None) -> FamilySpec | None:
    """The checkpoint's space when `supernet` is given, else the space of the options given (each
    missing one at its default: width 1.0, 1000 classes, 3 channels, ofa_mbv3), None when none is.
    The options describe a space of the MobileNet family (the only one with a width multiplier):
    `SpaceSpec` refuses another family's kind, naming what to give instead."""
    checks.space_options(width, classes, in_channels)
    if supernet is not None:
        from .checkpoint import checkpoint_space

        return checkpoint_space(supernet)
    if width is None and classes is None and in_channels is None and kind is None:
        return None
    return SpaceSpec(width_mult=width if width is not None else 1.0,
                     n_classes=classes if classes is not None else 1000,
                     in_channels=in_channels if in_channels is not None else 3,
                     kind=kind if kind is not None else "ofa_mbv3")
