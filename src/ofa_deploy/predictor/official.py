"""Import the official OFA ImageNet accuracy predictor (`acc_predictor.pth` of the OFA tutorial).

The file is a state_dict of `nn.Sequential(Linear(128,400), ReLU, Linear(400,400), ReLU,
Linear(400,400), ReLU, Linear(400,1))` (keys `0.*`, `2.*`, `4.*`, `6.*`) for the w1.2 MobileNetV3
space, whose output is top-1 accuracy as a fraction; its input is the one-hot encoding of
`OneHotEncoding` with resolution buckets `(r - 112) // 16`, trained at 112..224 step 16. It is read
with torch's weights-only loader (the file is torch's legacy, non-zip format; a crafted file cannot
run code), checked against that layout, and stored as our torch-free predictor file. Torch is
imported here only, when importing, so `search` and the rest of `predictor` stay torch-free.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FormatError
from ..space import SpaceSpec, official_space
from .encoding import OneHotEncoding
from .model import MLP, Predictor

OFFICIAL_R_START, OFFICIAL_R_STEP, OFFICIAL_R_BUCKETS = 112, 16, 8
_KEY = re.compile(r"^(?:model\.)?(\d+)\.(weight|bias)$")


def import_official(path: str | os.PathLike, spec: SpaceSpec | None = None) -> Predictor:
    """Read the official `acc_predictor.pth` into a `Predictor` of `spec` (default: official w1.2)."""
    p = Path(path)
    spec = spec if spec is not None else official_space(1.2)
    from ..torchio import safe_torch_load

    obj = safe_torch_load(p, "official predictor", "give the OFA tutorial's acc_predictor.pth")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise FormatError(f"{p}: expected a state_dict of the official predictor, got {type(obj).__name__}")
    layers: dict[int, dict[str, np.ndarray]] = {}
    for key, value in obj.items():
        m = _KEY.match(str(key))
        array = _float_array(value)
        if not m or array is None:
            raise FormatError(f"{p}: unexpected entry {str(key)[:60]!r}; the official predictor holds only the "
                              "Linear layers of an nn.Sequential (0.weight, 0.bias, 2.weight, ...)")
        layers.setdefault(int(m.group(1)), {})[m.group(2)] = array
    order = sorted(layers)
    if not order or any(set(layers[i]) != {"weight", "bias"} for i in order):
        raise FormatError(f"{p}: every Linear layer needs a weight and a bias")
    encoding = OneHotEncoding.for_space(spec, OFFICIAL_R_START, OFFICIAL_R_STEP, OFFICIAL_R_BUCKETS)
    try:
        model = MLP([layers[i]["weight"] for i in order], [layers[i]["bias"] for i in order])
    except FormatError as e:
        raise FormatError(f"{p}: {e}; not the official predictor") from None
    if model.n_inputs != encoding.n_features:
        raise FormatError(
            f"{p}: the predictor takes {model.n_inputs} inputs, but the space {spec.describe()} encodes to "
            f"{encoding.n_features}; is it a predictor of another space?"
        )
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    meta = {
        "name": "official OFA ImageNet accuracy predictor",
        "source": p.name,
        "sha256": sha,
        "note": "OFA tutorial AccuracyPredictor (Cai et al., ICLR 2020); output is top-1 as a fraction",
    }
    return Predictor(spec, encoding, model, encoding.resolutions(), "imagenet_top1", meta)


def _float_array(value: Any) -> np.ndarray | None:
    """A floating-point tensor as a numpy array; None for anything else."""
    import torch

    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return None
    return value.detach().float().numpy()



def import_official_file(path: str | os.PathLike, out: Path, width: float,
                         force: bool = False) -> tuple[Predictor, Path]:
    """`predictor import`: the official predictor of the w`width` space saved to `out`; the width
    and `out` are checked before the .pth is read. Returns the predictor and the file written."""
    from .. import checks
    from ..outputs import check_output

    checks.space_options(width)
    check_output(out, "predictor", force)
    pred = import_official(path, official_space(width))
    return pred, pred.save(out)
