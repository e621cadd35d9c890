"""The process group an evaluation runs in: one process, or several under ``accelerate launch``.

``accelerate launch`` (``python -m openeyes.trainer.launch``) sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``; with more than one process a gloo group
(CPU-only synchronisation: the model may sit on any device) provides barriers. Rank r takes
items r, r + W, r + 2W, ... of the pending list (a strided shard); rank 0 merges and scores.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence, TypeVar

T = TypeVar("T")
BARRIER_TIMEOUT = timedelta(hours=24)  # a rank may wait long for a slower one to finish generating


@dataclass
class Processes:
    rank: int = 0          # this process' index
    world_size: int = 1    # how many processes share the work
    local_rank: int = 0    # index on this machine (picks the GPU)
    started_group: bool = False  # True when this object created the torch.distributed group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's strided share of ``items``."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.started_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self.started_group = False


def join_processes() -> Processes:
    """The current process group (started here, gloo, when the launcher asked for several)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Processes()
    import torch.distributed as dist

    started = False
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=BARRIER_TIMEOUT)
        started = True
    return Processes(rank=dist.get_rank(), world_size=dist.get_world_size(),
                     local_rank=int(os.environ.get("LOCAL_RANK", "0")), started_group=started)
