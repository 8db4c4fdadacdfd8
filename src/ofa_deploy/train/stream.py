"""Training batches streamed from a `DataSource` (an ImageNet-style folder read by DataLoader workers).

The in-memory datasets train from one endless `BatchStream`; a streamed source gives epochs
(`DataSource.train_batches`: shuffled, under torchrun a `DistributedSampler` share, the official
train transform at one resolution per batch drawn as upstream's `MyRandomResizedCrop`). This
chains those epochs into one stream and knows its position, (data epoch, batch), which is all a
checkpoint needs: a resumed run reopens that epoch at that batch (`start`), so it trains on exactly
the batches the unbroken run would have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ..data.source import DataSource
from ..errors import DatasetError


class SourceStream:
    """`next_batch()` -> (x, y): the next training batch of `source`, epoch after epoch."""

    def __init__(self, source: DataSource, batch_size: int, resolutions: Sequence[int], seed: int = 0):
        self.source, self.batch_size = source, batch_size
        self.resolutions, self.seed = [int(r) for r in resolutions], seed
        self.epoch = self.batch = 0
        self._it: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        while True:
            if self._it is None:
                self._it = iter(self.source.train_batches(self.batch_size, self.resolutions, self.epoch, self.seed,
                                                          start=self.batch))
            try:
                x, y = next(self._it)
            except StopIteration:
                self._it = None
                if self.batch == 0:
                    raise DatasetError(f"{self.source.name}: an epoch of training gave no batch of {self.batch_size} "
                                       "images; use a smaller batch_size or more training images") from None
                self.epoch, self.batch = self.epoch + 1, 0
                continue
            self.batch += 1
            return x.contiguous(memory_format=torch.channels_last), y

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state(self, state: dict[str, Any]) -> None:
        self.close()
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])

    def close(self) -> None:
        """Stop the epoch being read (its DataLoader workers exit)."""
        if self._it is not None:
            close = getattr(self._it, "close", None)
            if close is not None:
                close()
            self._it = None
