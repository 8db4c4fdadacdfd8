"""The shipped demo supernet with Fashion-MNIST's labelled images, for tests whose figures only mean
something on trained weights (int8 accuracy): skipped with the reason when either is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ofa_deploy.space import Arch, Subnet, save_subnet


def shipped_demo_with_labels() -> Path:
    """The shipped demo supernet's path; skips when it or the Fashion-MNIST images are absent."""
    from ofa_deploy.data import FASHION_MNIST_ROOT
    from ofa_deploy.nn.shipped import ShippedSupernetMissing, shipped_supernet_path

    if not FASHION_MNIST_ROOT.exists():
        pytest.skip(f"{FASHION_MNIST_ROOT} is absent (apt-get install dataset-fashion-mnist)")
    try:
        return shipped_supernet_path()
    except ShippedSupernetMissing as e:
        pytest.skip(str(e))


def small_subnet(spec: Any, path: Path) -> tuple[Arch, Path]:
    """The small subnet these tests export (k3 e3, depth 2 everywhere, the smallest resolution), saved at `path`."""
    arch = Arch((3,) * 20, (3,) * 20, (2,) * 5, min(spec.resolutions))
    return arch, save_subnet(Subnet(spec, arch), path)
