"""torchrun support: this process's rank, the process group, and sharing rank 0's values."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

@dataclass
class Distributed:
    """This process's place under torchrun (world of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    launched: bool = False  # started by torchrun (even with one rank: the process group and DDP are used)

    @property
    def enabled(self) -> bool:
        return self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group that torchrun describes in the environment (no-op without it)."""
    if "WORLD_SIZE" not in os.environ:
        return Distributed()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=dist.get_rank(), world=dist.get_world_size(), launched=True)


def share_from_main(dist: Distributed, value):
    """Rank 0's `value` on every rank (e.g. the run folder it created)."""
    if not dist.enabled:
        return value
    import torch.distributed as torch_dist
    box = [value]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]
