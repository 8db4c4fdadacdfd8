"""Accuracy predictors for OFA subnets: a file format, numpy evaluation and the official import.

Torch-free on purpose: the search evaluates predictors tens of thousands of times per run and
`ofa-deploy search` must start fast. Building accuracy datasets and training predictors (which
may use torch / scikit-learn) live in their own modules beside these: `dataset` (sample subnets of
a supernet, measure their validation top-1, resumable) and `fit` (an MLP fitted with scikit-learn,
saved as our numpy MLP); both import torch / scikit-learn only when they start working, and so
does `official` (the official `.pth` is read with torch's weights-only loader: no pickle runs).
"""

from .dataset import AccuracyDataset, DatasetBuilder, DataSource, build_dataset, load_accuracy_dataset
from .encoding import OneHotEncoding
from .fit import FitResult, encoding_for_space, fit_predictor
from .model import FORMAT, MLP, MODEL_KINDS, Predictor
from .official import import_official
from .store import default_predictor_path, shipped_predictors_dir

__all__ = [
    "FORMAT",
    "MLP",
    "MODEL_KINDS",
    "AccuracyDataset",
    "DataSource",
    "DatasetBuilder",
    "FitResult",
    "OneHotEncoding",
    "Predictor",
    "build_dataset",
    "default_predictor_path",
    "encoding_for_space",
    "fit_predictor",
    "import_official",
    "load_accuracy_dataset",
    "shipped_predictors_dir",
]
