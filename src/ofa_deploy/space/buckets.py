"""The resolution one-hot every family's accuracy-predictor encoding shares (`ResolutionBuckets`):
bucket `(r - r_start) // r_step` of `r_buckets`, as upstream's `MobileNetArchEncoder` and
`ResNetArchEncoder` both write it (the MobileNet family's `OneHotEncoding`, ResNet50's
`ResNetOneHotEncoding` mix it in)."""

from __future__ import annotations

import numpy as np


class ResolutionBuckets:
    """The resolution one-hot of a predictor encoding: bucket `(r - r_start) // r_step` of
    `r_buckets` (a mixin of the encodings' dataclasses, which hold the three fields)."""

    r_start: int
    r_step: int
    r_buckets: int

    def bucket(self, r: np.ndarray) -> np.ndarray:
        return (np.asarray(r) - self.r_start) // self.r_step

    def covers(self, r: int) -> bool:
        """True when resolution `r` has a bucket of its own (buckets are trained at their start)."""
        b = (int(r) - self.r_start) // self.r_step
        return 0 <= b < self.r_buckets and (int(r) - self.r_start) % self.r_step == 0

    def resolutions(self) -> tuple[int, ...]:
        return tuple(self.r_start + self.r_step * i for i in range(self.r_buckets))


__all__ = ["ResolutionBuckets"]
