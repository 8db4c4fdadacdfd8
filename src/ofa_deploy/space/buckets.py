"""The resolution one-hot every family's accuracy-predictor encoding shares (`ResolutionBuckets`):
bucket `(r - r_start) // r_step` of `r_buckets`, as upstream's `MobileNetArchEncoder` and
`ResNetArchEncoder` both write it (the MobileNet family's `OneHotEncoding`, ResNet50's
`ResNetOneHotEncoding` mix it in)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from ..errors import FormatError

E = TypeVar("E")


class ResolutionBuckets:
    """The resolution one-hot of a predictor encoding: bucket `(r - r_start) // r_step` of
    `r_buckets` (a mixin of the encodings' dataclasses, which hold the three fields)."""

    kind: str  # the encoding's name in predictor files
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

    def buckets_dict(self) -> dict[str, int]:
        """The `resolution` entry of the encoding's dict in a predictor file."""
        return {"start": self.r_start, "step": self.r_step, "buckets": self.r_buckets}

    @staticmethod
    def buckets_of(r: Mapping[str, Any]) -> tuple[int, int, int]:
        """(r_start, r_step, r_buckets) of a `resolution` entry."""
        return int(r["start"]), int(r["step"]), int(r["buckets"])

    @classmethod
    def read_dict(cls, d: dict[str, Any], read: Callable[[dict[str, Any], Mapping[str, Any]], E]) -> E:
        """An encoding of a predictor file: its `kind` checked, then `read(d, resolution entry)`; a
        missing or malformed field is one `FormatError`."""
        try:
            if d["kind"] != cls.kind:
                raise FormatError(f"unknown predictor encoding {d['kind']!r} (known: {cls.kind!r})")
            return read(d, d["resolution"])
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"malformed predictor encoding ({type(e).__name__}: {e})") from None


__all__ = ["ResolutionBuckets"]
