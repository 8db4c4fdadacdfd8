"""Datasets for training and evaluating supernets: Fashion-MNIST idx files, ImageNet-style
folders and a small synthetic set for tests; batches at any resolution for elastic-resolution
training (upstream samples one resolution per batch)."""

from .datasets import (
    FASHION_MNIST_ROOT,
    ArraySplit,
    Splits,
    load_dataset,
)
from .batches import BatchStream, eval_batches

__all__ = ["ArraySplit", "BatchStream", "FASHION_MNIST_ROOT", "Splits", "eval_batches", "load_dataset"]
