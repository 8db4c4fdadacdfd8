"""The MobileNet family's accuracy-predictor encoding (`OneHotEncoding`); its resolution buckets
are the ones every family's encoding shares (`space.buckets.ResolutionBuckets`).

The official OFA accuracy predictor (Cai et al., ICLR 2020, tutorial `AccuracyPredictor.spec2feats`)
reads a one-hot vector: per block slot a one-hot over the kernel sizes, then per slot a one-hot
over the expand ratios, then a one-hot of the resolution bucket `(r - start) // step`; slots beyond
a stage's depth are all zero. `OneHotEncoding` is that encoding for any space of the MobileNet
family (choice lists and bucket layout are stored with the predictor, so a file says exactly what
it expects), computed for a whole batch with one scatter, no per-arch Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import FormatError, SpaceError
from ..buckets import ResolutionBuckets
from ..family import family_of
from .batch import ArchBatch, slot_mask, value_index
from .spec import SpaceSpec


@dataclass(frozen=True)
class OneHotEncoding(ResolutionBuckets):
    """`[ks one-hot per slot | e one-hot per slot | resolution bucket one-hot]`."""

    ks_list: tuple[int, ...]
    expand_list: tuple[int, ...]
    n_blocks: int
    max_depth: int
    r_start: int
    r_step: int
    r_buckets: int
    # Slots per stage, when not `n_blocks // max_depth` stages of `max_depth` (ProxylessNAS: 4 x 5 + 1,
    # as upstream `MobileNetArchEncoder` with its 'mbv2' layout of 21 blocks).
    stage_slots: tuple[int, ...] | None = None

    kind = "onehot"
    layout = "kernel, expand one-hot per slot"  # what its features are, for `predictor show`

    def __post_init__(self) -> None:
        if self.stage_slots is not None:
            if sum(self.stage_slots) != self.n_blocks:
                raise FormatError(f"encoding stage slots {list(self.stage_slots)} do not add up to {self.n_blocks}")
            if all(m == self.max_depth for m in self.stage_slots):
                object.__setattr__(self, "stage_slots", None)  # the uniform layout: one form only

    @classmethod
    def for_space(cls, spec: SpaceSpec, r_start: int = 112, r_step: int = 16, r_buckets: int = 8) -> OneHotEncoding:
        return cls(tuple(spec.ks_list), tuple(spec.expand_list), spec.n_blocks, spec.max_depth,
                   r_start, r_step, r_buckets, tuple(spec.stage_max_depths))

    @property
    def slots_per_stage(self) -> tuple[int, ...]:
        if self.stage_slots is not None:
            return self.stage_slots
        return (self.max_depth,) * (self.n_blocks // self.max_depth)

    @property
    def n_features(self) -> int:
        return self.n_blocks * (len(self.ks_list) + len(self.expand_list)) + self.r_buckets

    def check_space(self, spec: SpaceSpec) -> None:
        if type(self) not in family_of(spec).encodings:
            raise SpaceError(f"a one-hot kernel/expand encoding is for MobileNet-family spaces; the space is "
                             f"{spec.describe()}")
        if (tuple(spec.ks_list), tuple(spec.expand_list), spec.n_blocks, tuple(spec.stage_max_depths)) != (
                self.ks_list, self.expand_list, self.n_blocks, self.slots_per_stage):
            raise SpaceError(
                f"encoding is for kernel sizes {list(self.ks_list)}, expand ratios {list(self.expand_list)}, "
                f"{self.n_blocks} slots; the space has {list(spec.ks_list)}, {list(spec.expand_list)}, "
                f"{spec.n_blocks}"
            )

    # ---- encoding -------------------------------------------------------------------------
    def encode_indices(self, kidx: np.ndarray, eidx: np.ndarray, mask: np.ndarray, bucket: np.ndarray,
                       dtype: Any = np.float32) -> np.ndarray:
        """Features from choice indices (N, n_blocks), the active mask and resolution buckets (N,)."""
        n, nb = kidx.shape
        nk, ne = len(self.ks_list), len(self.expand_list)
        x = np.zeros((n, self.n_features), dtype=dtype)
        rows = np.arange(n)[:, None]
        slots = np.arange(nb)[None, :]
        on = mask.astype(dtype)
        x[rows, slots * nk + kidx] = on
        x[rows, nb * nk + slots * ne + eidx] = on
        x[np.arange(n), nb * (nk + ne) + bucket] = 1
        return x

    def encode_genes(self, genes: Any, x: np.ndarray, mask: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        """Features of search genes (`space.mobilenet.genes.MobileNetGenes`): the search's fast path."""
        return self.encode_indices(genes.k(x), genes.e(x), mask, bucket)

    def encode(self, batch: ArchBatch, dtype: Any = np.float32) -> np.ndarray:
        """(N, n_features) features of a batch; raises `SpaceError` for values outside the encoding."""
        if batch.ks.shape[1:] != (self.n_blocks,) or batch.e.shape != batch.ks.shape:
            raise SpaceError(f"arch batch has ks/e of shape {batch.ks.shape}; the encoding needs (N, {self.n_blocks})")
        per_stage = self.slots_per_stage
        n_stages = len(per_stage)
        if batch.d.shape[1:] != (n_stages,):
            raise SpaceError(f"arch batch has d of shape {batch.d.shape}; the encoding needs (N, {n_stages})")
        mask = slot_mask(batch.d, np.repeat(np.arange(n_stages), per_stage),
                         np.concatenate([np.arange(m) for m in per_stage]))
        kidx, eidx = value_index(batch.ks, self.ks_list), value_index(batch.e, self.expand_list)
        bad = ((kidx < 0) | (eidx < 0)) & mask
        if bad.any():
            i = int(np.nonzero(bad.any(axis=1))[0][0])
            raise SpaceError(f"arch {i} of the batch has a kernel size or expand ratio outside the predictor's "
                             f"encoding (ks {list(self.ks_list)}, e {list(self.expand_list)})")
        if (batch.d > np.asarray(per_stage)[None, :]).any() or (batch.d < 1).any():
            raise SpaceError(f"arch batch has depths outside 1..{self.max_depth}")
        covered = np.isin(batch.r, np.asarray(self.resolutions()))
        if not covered.all():
            bad_r = sorted(set(batch.r[~covered].tolist()))
            raise SpaceError(f"the predictor covers resolutions {list(self.resolutions())}; "
                             f"got {bad_r[:5]}")
        return self.encode_indices(np.maximum(kidx, 0), np.maximum(eidx, 0), mask, self.bucket(batch.r), dtype)

    # ---- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "ks_list": list(self.ks_list), "expand_list": list(self.expand_list),
               "n_blocks": self.n_blocks, "max_depth": self.max_depth,
               "resolution": self.buckets_dict()}
        if self.stage_slots is not None:
            out["stage_slots"] = list(self.stage_slots)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OneHotEncoding:
        def read(d: dict[str, Any], r: Any) -> OneHotEncoding:
            slots = d.get("stage_slots")
            return cls(tuple(int(v) for v in d["ks_list"]), tuple(int(v) for v in d["expand_list"]),
                       int(d["n_blocks"]), int(d["max_depth"]), *cls.buckets_of(r),
                       tuple(int(v) for v in slots) if slots is not None else None)

        return cls.read_dict(d, read)


__all__ = ["OneHotEncoding"]
