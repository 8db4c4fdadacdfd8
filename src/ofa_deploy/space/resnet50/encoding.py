"""The accuracy-predictor encoding of OFA ResNet50 archs (upstream `ResNetArchEncoder`), and its
form as a predictor file's encoding (`ResNetOneHotEncoding`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import SpaceError
from ..buckets import ResolutionBuckets
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


@dataclass(frozen=True)
class ResNetOneHotEncoding(ResolutionBuckets):
    """`ResNetEncoder`'s features as a predictor file's encoding: the choice lists and the
    resolution buckets (`r_start + r_step * i`, the encoder's image sizes) are stored with the
    predictor, so a file says exactly what it expects; `encode_genes` is the search's fast path."""

    depth_list: tuple[int, ...]
    expand_list: tuple[float, ...]
    width_mult_list: tuple[float, ...]
    n_blocks: int
    n_widths: int
    r_start: int
    r_step: int
    r_buckets: int

    kind = "resnet_onehot"
    layout = "stem flag, width index per stem conv and stage, expand one-hot per active slot"

    @classmethod
    def for_space(cls, spec: ResNet50Spec, r_start: int, r_step: int, r_buckets: int) -> ResNetOneHotEncoding:
        return cls(tuple(spec.depth_list), tuple(spec.expand_list), tuple(spec.width_mult_list), spec.n_blocks,
                   spec.n_widths, r_start, r_step, r_buckets)

    @property
    def n_features(self) -> int:
        return self.r_buckets + 2 + self.n_widths * len(self.width_mult_list) + self.n_blocks * len(self.expand_list)

    def _lists(self) -> tuple[Any, ...]:
        return (self.depth_list, self.expand_list, self.width_mult_list, self.n_blocks, self.n_widths)

    def check_space(self, spec: Any) -> None:
        if not isinstance(spec, ResNet50Spec) or (tuple(spec.depth_list), tuple(spec.expand_list),
                                                  tuple(spec.width_mult_list), spec.n_blocks, spec.n_widths) \
                != self._lists():
            raise SpaceError(f"encoding is for ResNet50 depths {list(self.depth_list)}, expand ratios "
                             f"{list(self.expand_list)}, widths {list(self.width_mult_list)}; the space is "
                             f"{spec.describe()}")

    def encode_genes(self, genes: Any, x: np.ndarray, mask: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        """Features of search genes (`ResNetGenes`), equal to `encode` of their batch."""
        n = len(x)
        nw, ne = len(self.width_mult_list), len(self.expand_list)
        feat = np.zeros((n, self.n_features), dtype=np.float32)
        rows = np.arange(n)
        feat[rows, bucket] = 1
        feat[rows, self.r_buckets + (genes.stem_choices[x[:, 0]] > 0)] = 1
        w_off = self.r_buckets + 2
        feat[rows[:, None], w_off + np.arange(self.n_widths)[None, :] * nw + genes.w(x)] = 1
        e_off = w_off + self.n_widths * nw
        feat[rows[:, None], e_off + np.arange(self.n_blocks)[None, :] * ne + genes.e(x)] = mask
        return feat

    def encode(self, batch: ResNetBatch, dtype: Any = np.float32) -> np.ndarray:
        """(N, n_features) features of a batch; `SpaceError` for values outside the encoding."""
        ref = ResNet50Spec(depth_list=self.depth_list, expand_list=self.expand_list,
                           width_mult_list=self.width_mult_list, resolutions=self.resolutions())
        if ref.n_blocks != self.n_blocks:
            raise SpaceError(f"encoding of {self.n_blocks} block slots does not fit depths {list(self.depth_list)}")
        return ResNetEncoder(ref, self.resolutions()).encode(batch).astype(dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "depth_list": list(self.depth_list), "expand_list": list(self.expand_list),
                "width_mult_list": list(self.width_mult_list), "n_blocks": self.n_blocks, "n_widths": self.n_widths,
                "resolution": self.buckets_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResNetOneHotEncoding:
        return cls.read_dict(d, lambda d, r: cls(
            tuple(int(v) for v in d["depth_list"]), tuple(float(v) for v in d["expand_list"]),
            tuple(float(v) for v in d["width_mult_list"]), int(d["n_blocks"]), int(d["n_widths"]), *cls.buckets_of(r)))
