"""The accuracy-predictor encoding of OFA ResNet50 archs (upstream `ResNetArchEncoder`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import SpaceError
from .costs import ResNetBatch
from .spec import ResNet50Spec


class ResNetEncoder:
    """Upstream `ResNetArchEncoder.arch2feature`, vectorised: one-hots of the resolution, of the
    input-stem flag (index 1 when `d[0] > 0`, i.e. the residual conv runs, as upstream), of the 6
    width indices, and of the expand ratio of every active block slot (inactive slots all-zero)."""

    def __init__(self, spec: ResNet50Spec, image_size_list: Sequence[int] | None = None):
        self.spec = spec
        self.image_size_list = list(image_size_list) if image_size_list is not None else list(spec.resolutions)
        nr, nw, ne = len(self.image_size_list), len(spec.width_mult_list), len(spec.expand_list)
        self.r_offset, self.stem_offset = 0, nr
        self.w_offset = nr + 2
        self.e_offset = self.w_offset + spec.n_widths * nw
        self.n_dim = self.e_offset + spec.n_blocks * ne

    def encode(self, batch: ResNetBatch) -> np.ndarray:
        spec = self.spec
        mask, eidx = batch.check(spec)
        n = len(batch)
        lut = {r: i for i, r in enumerate(self.image_size_list)}
        missing = sorted(set(np.unique(batch.r).tolist()) - set(lut))
        if missing:
            raise SpaceError(f"resolution(s) {missing} are not in the encoder's image sizes {self.image_size_list}")
        ridx = (batch.r[:, None] == np.asarray(self.image_size_list)[None, :]).argmax(axis=1)
        feat = np.zeros((n, self.n_dim), dtype=np.float64)
        rows = np.arange(n)
        feat[rows, self.r_offset + ridx] = 1
        feat[rows, self.stem_offset + (batch.d[:, 0] > 0).astype(np.int64)] = 1
        nw, ne = len(spec.width_mult_list), len(spec.expand_list)
        wcols = self.w_offset + np.arange(spec.n_widths)[None, :] * nw + batch.w
        feat[rows[:, None], wcols] = 1
        ecols = self.e_offset + np.arange(spec.n_blocks)[None, :] * ne + np.maximum(eidx, 0)
        r_i, c_i = np.nonzero(mask)
        feat[r_i, ecols[r_i, c_i]] = 1
        return feat
