"""The demo supernet that ships inside the package (trained here by `ofa-deploy train --recipe demo-fmnist`).

Its folder is `ofa_deploy.paths.shipped_supernet_dir()` (with `report.json`, `report.md`,
`training_log.jsonl` and the accuracy dataset beside `supernet.pt`).
"""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..errors import CheckpointError
from ..space.family import FamilySpec


class ShippedSupernetMissing(CheckpointError, FileNotFoundError):
    """Typed (the CLI reports it in one line); still a FileNotFoundError for callers that catch that."""


def shipped_supernet_path() -> Path:
    """Path of the shipped demo supernet checkpoint (our format, spec embedded)."""
    path = paths.shipped_supernet()
    if not path.exists():
        raise ShippedSupernetMissing(
            f"the shipped demo supernet is missing ({path}); reinstall ofa-deploy, or pass --supernet "
            "with a supernet trained by `ofa-deploy train`"
        )
    return path


def shipped_spec() -> FamilySpec:
    """Search space of the shipped supernet, read from its checkpoint without building the network."""
    from ..space.checkpoint import checkpoint_space

    return checkpoint_space(shipped_supernet_path())  # the clear error first when it is missing


__all__ = ["ShippedSupernetMissing", "shipped_spec", "shipped_supernet_path"]
