"""Accuracy datasets: sampled subnets of one supernet and their measured validation top-1.

An accuracy predictor (Cai et al., "Once for All", ICLR 2020, section 3.4) is fitted on
`(arch, accuracy)` pairs measured on the supernet it will stand in for. Building the pairs is the
slow part (each subnet is extracted, its BN statistics recalibrated, then evaluated), so a dataset
is a folder written as it goes and resumed from what is there:

- `meta.json`: what the rows were measured on and how (supernet path and sha256, space, image
  dataset and its validation split, BN and evaluation images, sampling seed); a rerun with other
  settings is refused rather than mixing two kinds of rows;
- `rows.csv`: one line per subnet, appended and flushed as soon as it is measured: `index` (its
  position in the seeded sequence of subnets), `ks`, `e`, `d` (space-separated values), `r`,
  `correct`, `images`, `accuracy` (a fraction) and `seconds` (extract + BN + evaluation). A line
  cut short by an interruption is dropped on the next run.

Subnets are drawn as upstream samples them (every kernel size, expand ratio, depth and resolution
uniform and independent), the `i`-th from its own generator `default_rng([seed, i])`, and duplicates
(equal once inactive slots are ignored) are skipped: the first N subnets of a seed never change,
so `--samples` can be raised later and the new rows extend the old ones.

Accuracy is measured on the validation split carved from the training images (the test split is
kept for final reports). `device` puts BN recalibration and evaluation on CUDA (`--device cuda`).

Under `torchrun --nproc_per_node N` the subnets still to measure are dealt out (rank k takes every
N-th, from the k-th); rank 0 is the one writer: it holds the folder's lock, reads the rows already
there, tells the other ranks what is left, and appends every rank's rows as they arrive (each a
few numbers sent point to point: the subnet is the index's, known to all). Nothing is written twice
and only the rows in flight at an interruption are measured again on the rerun, on any number of
processes. Reading a dataset needs numpy only; building one needs torch, imported
when a build starts.

The two halves are modules of their own, re-exported here: `predictor.datafile` (the folder's
format, read with numpy: `meta.json`, `rows.csv` as a `rowfile.RowStore`, the seeded sequence,
repair) and `predictor.builder` (the torch builder and the torchrun sharing).
"""

from __future__ import annotations

from .builder import DatasetBuilder, DataSource, ProgressFn, build_dataset, data_source_for, file_sha256
from .datafile import (
    COLUMNS,
    DATASET_FORMAT,
    DATASET_VERSION,
    IDENTITY,
    META_NAME,
    ROWS_NAME,
    AccuracyDataset,
    DatasetRepair,
    arch_sequence,
    check_unique,
    columns_for,
    format_row,
    load_accuracy_dataset,
    read_meta,
    repair_dataset,
    sample_plan,
    space_size,
    supernet_label,
)

__all__ = ["COLUMNS", "DATASET_FORMAT", "DATASET_VERSION", "IDENTITY", "META_NAME", "ROWS_NAME", "AccuracyDataset",
           "DataSource", "DatasetBuilder", "DatasetRepair", "ProgressFn", "arch_sequence", "build_dataset",
           "check_unique", "columns_for", "data_source_for", "file_sha256", "format_row", "load_accuracy_dataset",
           "read_meta", "repair_dataset", "sample_plan", "space_size", "supernet_label"]
