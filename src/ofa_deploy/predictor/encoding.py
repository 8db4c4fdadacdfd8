"""Feature encodings of archs for accuracy predictors: which encoding a space gets, and which
class reads a predictor file's encoding. The encodings themselves belong to their space family
(`space.mobilenet.encoding.OneHotEncoding` for the MobileNet family, `space.resnet50.encoding` for ResNet50).
"""

from __future__ import annotations

from typing import Any

from ..space.family import FamilyEncoding, FamilySpec, families, family_of
from ..space.mobilenet.encoding import OneHotEncoding


def encoding_for(spec: FamilySpec, r_start: int, r_step: int, r_buckets: int) -> FamilyEncoding:
    """The predictor encoding of a space on these resolution buckets (its family's: upstream
    `MobileNetArchEncoder` for the MobileNet family, `ResNetArchEncoder` for ResNet50)."""
    return family_of(spec).predictor_encoding(spec, r_start, r_step, r_buckets)


def encoding_from_dict(d: Any) -> FamilyEncoding:
    """A predictor file's encoding, by its `kind` (`onehot`, or one another family declares)."""
    classes: dict[str, Any] = {}
    for f in families():
        classes.update({c.kind: c for c in f.encodings})
    name = d.get("kind") if isinstance(d, dict) else None
    return classes.get(name, OneHotEncoding).from_dict(d)  # (the latter says what is wrong)


__all__ = ["FamilyEncoding", "OneHotEncoding", "encoding_for", "encoding_from_dict"]
