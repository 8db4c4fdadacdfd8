"""The representative images of an int8 latency table: the supernet's own dataset, as `export` finds it.

`latency.int8` quantises block models and whole subnets with the activations of real images; which
images those are is `export`'s rule (`export.inputs`: the dataset of the supernet's training recipe,
`--data` elsewhere, random N(0,1) images without one), which `latency` may not import. This module
joins the two for `profile --precision int8`, `search --verify` and `benchmark` of int8 tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..latency.int8 import DEFAULT_IMAGES, Int8Calibration
from ..space import FamilySpec


def int8_calibration(spec: FamilySpec, net: Any = None, data_dir: str | os.PathLike | None = None,
                     n_images: int = DEFAULT_IMAGES) -> Int8Calibration:
    """`n_images` images per resolution from the dataset of `net`'s checkpoint (its recipe) or `data_dir`."""
    from ..export.inputs import calibration_images, resolve_data

    data = resolve_data(spec, getattr(net, "checkpoint_meta", None) or {}, data_dir)

    def images(r: int, n: int) -> np.ndarray:
        return np.concatenate(calibration_images(data, spec, r, n))

    return Int8Calibration(images, data.description, n_images)


def table_supernet(metadata: dict[str, Any]) -> Path | None:
    """The checkpoint an int8 table was profiled from (`meta.yaml` `supernet`), when it is still there.
    int8 timings depend on the weights (measured: random-init subnets of the demo space ran their int8
    files 1.5x slower than the trained ones), so an int8 table's subnets are timed from its own."""
    p = metadata.get("supernet")
    if not isinstance(p, str) or p == "random init" or not Path(p).is_file():
        return None
    return Path(p)


__all__ = ["int8_calibration", "table_supernet"]
