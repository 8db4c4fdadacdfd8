"""Datasets for training and evaluating supernets: Fashion-MNIST idx files, ImageNet-style
folders and a small synthetic set for tests; batches at any resolution for elastic-resolution
training (upstream samples one resolution per batch)."""

from .batches import BatchStream, eval_batches
from .datasets import (
    FASHION_MNIST_ROOT,
    ArraySplit,
    Splits,
    load_dataset,
)

__all__ = ["FASHION_MNIST_ROOT", "ArraySplit", "BatchStream", "Splits", "eval_batches", "load_dataset"]
