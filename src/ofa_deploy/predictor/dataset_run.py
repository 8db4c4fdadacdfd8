"""`ofa-deploy predictor dataset` without its printing: the supernet (default: the shipped demo
one), the dataset folder (default: runs/accuracy-<supernet name>), the resolutions checked against
the supernet's space, and the builder inside the process group that torchrun starts (joined
and left here)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import checks
from ..errors import CheckpointError


def dataset_supernet(supernet: Path | None) -> Path:
    """The supernet to measure: the one given (which must exist), else the shipped demo supernet."""
    if supernet is None:
        from ..nn.shipped import shipped_supernet_path

        return shipped_supernet_path()
    if not supernet.is_file():
        raise CheckpointError(f"supernet {supernet}: no such file; give a checkpoint written by `ofa-deploy train`")
    return supernet


def dataset_folder(out: Path | None, supernet: Path) -> Path:
    from .dataset import supernet_label

    return out or Path("runs") / f"accuracy-{supernet_label(supernet)}"


def supernet_resolutions(text: str | None, supernet: Path) -> tuple[int, ...] | None:
    """--resolutions against the supernet's space (its resolutions read without the weights)."""
    if text is None:
        return None
    from ..space.checkpoint import checkpoint_space
    from ..space.resolutions import parse_resolutions

    return tuple(parse_resolutions(text, checkpoint_space(supernet), "--resolutions"))


@contextmanager
def dataset_builder(folder: Path, supernet: Path, samples: int, seed: int, val_images: int | None,
                    bn_images: int, resolutions: str | None = None, workers: int | None = None,
                    stop_after_rows: int | None = None, **options: Any) -> Iterator[Any]:
    """The `DatasetBuilder` of the options (`options`: its other keyword arguments), inside the
    process group (gloo: rows are a few numbers, whatever the device) when torchrun started this."""
    from ..dist import init_distributed
    from .dataset import DatasetBuilder

    checks.count(stop_after_rows, "--stop-after-rows", checks.MAX_SUBNETS, optional=True)
    joined = init_distributed("gloo")
    try:
        yield DatasetBuilder(folder, supernet, samples, seed, val_images, bn_images,
                             workers=checks.count(workers, "--workers", 64, lo=0, optional=True),
                             resolutions=supernet_resolutions(resolutions, supernet), **options)
    finally:
        if joined:
            import torch.distributed as dist

            dist.destroy_process_group()
