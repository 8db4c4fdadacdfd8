"""Datasets for training and evaluating supernets: Fashion-MNIST idx files, ImageNet-style
folders and a small synthetic set for tests; batches at any resolution for elastic-resolution
training (upstream samples one resolution per batch).

`source.DataSource` is the one interface the commands take: `ArraySource` (arrays in memory) or
`imagenet.ImageFolderSource` (an ImageNet-style folder streamed through DataLoader workers with the
official OFA transforms of `transforms`)."""

from .batches import BatchStream, eval_batches
from .datasets import (
    FASHION_MNIST_ROOT,
    ArraySplit,
    Splits,
    load_dataset,
)
from .source import ArraySource, DataSource, as_source, open_source

__all__ = ["FASHION_MNIST_ROOT", "ArraySource", "ArraySplit", "BatchStream", "DataSource", "Splits", "as_source",
           "eval_batches", "load_dataset", "open_source"]
