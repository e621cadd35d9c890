"""The seeded, epoch-aware data order, sharded so that every process count sees the same global batches.

Micro-batch ``m`` of the whole run (counting over epochs) is a *global* micro-batch of
``batch_size * world`` indices: rows ``[m * G, (m + 1) * G)`` of the epoch's permutation
(seeded by ``seed`` and the epoch; the tail that cannot fill a global batch is dropped).
Process ``r`` takes its contiguous slice ``[r * batch_size, (r + 1) * batch_size)``. So one
process with ``batch_size=8`` and two with ``batch_size=4`` train on identical global batches,
and a resumed run restarts at micro-batch ``m`` with nothing else to restore.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from openeyes.errors import UserError


class ShardedBatchSampler:
    """Yields this process's index lists for micro-batches ``start .. stop - 1``."""

    def __init__(self, dataset_size: int, batch_size: int, world: int = 1, rank: int = 0, seed: int = 0,
                 start: int = 0, stop: int | None = None):
        self.global_batch = batch_size * world
        if dataset_size < self.global_batch:
            raise UserError(
                f"the dataset has {dataset_size} samples, fewer than one global micro-batch "
                f"({batch_size} per process x {world} processes)"
            )
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.rank = rank
        self.seed = seed
        self.batches_per_epoch = dataset_size // self.global_batch
        self.start = start
        self.stop = stop  # None: endless
        self._epoch_cache: tuple[int, torch.Tensor] | None = None

    def epoch_order(self, epoch: int) -> torch.Tensor:  # [dataset_size] permutation
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch_cache = (epoch, torch.randperm(self.dataset_size, generator=generator))
        return self._epoch_cache[1]

    def global_indices(self, micro_batch: int) -> list[int]:
        """All ``batch_size * world`` indices of global micro-batch ``micro_batch``."""
        epoch, position = divmod(micro_batch, self.batches_per_epoch)
        order = self.epoch_order(epoch)
        return order[position * self.global_batch:(position + 1) * self.global_batch].tolist()

    def local_indices(self, micro_batch: int) -> list[int]:
        begin = self.rank * self.batch_size
        return self.global_indices(micro_batch)[begin:begin + self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        micro_batch = self.start
        while self.stop is None or micro_batch < self.stop:
            yield self.local_indices(micro_batch)
            micro_batch += 1

    def __len__(self) -> int:
        if self.stop is None:
            raise TypeError("an endless sampler has no length")
        return max(0, self.stop - self.start)
