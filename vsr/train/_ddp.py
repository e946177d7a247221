"""Distributed training through ``torchrun``: the process group, and waiting for every rank.

``torchrun --nproc-per-node N -m vsr train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain ``vsr train`` has
none of them and runs as a single process (world size 1, no process group).
Where this process sits in the job is :class:`vsr._core._distributed.DistEnv`, the
one description of it that upscaling uses too. Training exchanges gradients,
so its process group is NCCL on CUDA devices (gloo on the CPU).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from vsr._core import DistEnv, dist_env

__all__ = ["init_distributed", "shutdown_distributed", "barrier"]


def init_distributed(device_type: str) -> DistEnv:
    """Join the process group torchrun describes (NCCL for ``cuda``, gloo otherwise); a no-op for one process."""
    env = dist_env()
    if not env.distributed:
        return env
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(env.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)
    return env


def shutdown_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op for one process)."""
    if env.distributed and dist.is_initialized():
        dist.barrier()
