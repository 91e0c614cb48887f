"""torch.distributed for extraction under torchrun: who am I, wait for the others, share a value.

``torchrun --nproc_per_node=N -m seabench extract ...`` sets WORLD_SIZE / RANK / LOCAL_RANK; the
extraction engine shards its chunks over the ranks, rank 0 merges and commits.  Without those
variables everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch

#: rank 0 may wait on another job's lock of the same key; the others wait for it meanwhile
TIMEOUT = timedelta(hours=2)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (a picklable value)."""
        if self.world == 1:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self.owns_group = False


def env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def from_env(device: str) -> Dist:
    """The process group of a torchrun launch (joined here if nobody did), or a single process.

    On CUDA each rank uses the GPU of its LOCAL_RANK and NCCL; on CPU, gloo.
    """
    world = env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Dist()
    rank, local_rank = env_int("RANK", 0), env_int("LOCAL_RANK", 0)
    local_world = env_int("LOCAL_WORLD_SIZE", world)
    owns = False
    if not torch.distributed.is_initialized():
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(
            backend="nccl" if cuda else "gloo",
            timeout=TIMEOUT,
            **({"device_id": torch.device("cuda", local_rank)} if cuda else {}),
        )
        owns = True
    return Dist(rank, world, local_rank, local_world, owns)
