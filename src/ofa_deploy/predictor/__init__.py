"""Accuracy predictors for OFA subnets: a file format, numpy evaluation and the official import.

Torch-free on purpose: the search evaluates predictors tens of thousands of times per run and
`ofa-deploy search` must start fast. Building accuracy datasets and training predictors (which
may use torch / scikit-learn) live in their own modules beside these.
"""

from .encoding import OneHotEncoding
from .model import FORMAT, MLP, MODEL_KINDS, Predictor
from .official import import_official
from .store import default_predictor_path, shipped_predictors_dir
from .torchfile import read_pickle_only, read_pth

__all__ = [
    "FORMAT", "MLP", "MODEL_KINDS", "OneHotEncoding", "Predictor", "default_predictor_path", "import_official",
    "read_pickle_only", "read_pth", "shipped_predictors_dir",
]
