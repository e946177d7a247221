"""Distributed training through ``torchrun``: process group, ranks, and rank-0-only side effects.

``torchrun --nproc-per-node N -m vsr train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain ``vsr train`` has
none of them and runs as a single process (world size 1, no process group).
NCCL is used on CUDA devices, gloo on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from vsr._distributed import dist_env

__all__ = ["DistInfo", "dist_info_from_env", "init_distributed", "shutdown_distributed", "barrier"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group is in use."""
        return self.world_size > 1


def dist_info_from_env() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment variables (defaults: one process)."""
    env = dist_env()
    return DistInfo(rank=env.rank, world_size=env.world_size, local_rank=env.local_rank)


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (NCCL for ``cuda``, gloo otherwise); a no-op for one process."""
    info = dist_info_from_env()
    if info.world_size == 1:
        return info
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return DistInfo(rank=info.rank, world_size=info.world_size, local_rank=info.local_rank, backend=backend)


def shutdown_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op for one process)."""
    if info.distributed and dist.is_initialized():
        dist.barrier()
