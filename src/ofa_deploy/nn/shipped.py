"""The demo supernet that ships inside the package (trained here by `ofa-deploy train --recipe demo-fmnist`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from ..space.spec import SpaceSpec

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "_data" / "demo-fmnist"


class ShippedSupernetMissing(CheckpointError, FileNotFoundError):
    """Typed (the CLI reports it in one line); still a FileNotFoundError for callers that catch that."""


def shipped_supernet_path() -> Path:
    """Path of the shipped demo supernet checkpoint (our format, spec embedded)."""
    path = SHIPPED_DIR / "supernet.pt"
    if not path.exists():
        raise ShippedSupernetMissing(
            f"the shipped demo supernet is missing ({path}); reinstall ofa-deploy, or pass --supernet "
            "with a supernet trained by `ofa-deploy train`"
        )
    return path


def shipped_spec() -> SpaceSpec:
    """Search space of the shipped supernet, read from its checkpoint without building the network."""
    import torch

    blob = torch.load(shipped_supernet_path(), map_location="cpu", weights_only=True)
    return SpaceSpec.from_dict(blob["spec"])


__all__ = ["SHIPPED_DIR", "ShippedSupernetMissing", "shipped_spec", "shipped_supernet_path"]
