"""Joining a ``torchrun`` launch: which device this process takes and which backend its
process group uses, decided in one place.

Under ``torchrun`` every process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. On GPUs
the process takes ``cuda:LOCAL_RANK``, makes it the current device *before* the process group
starts (NCCL and the exchange's small tensors then live on the process's own GPU, not all on
``cuda:0``) and passes it to ``init_process_group(device_id=...)``; on CPU it joins a gloo
group.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Launch:
    """This process's place in the launch: ranks, its device and the group's backend."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str


def plan_launch(env: Mapping[str, str], device: str, cuda_devices: int) -> Launch:
    """The launch described by ``env`` (torchrun's variables) for ``device`` (``auto``, ``cpu``
    or ``cuda``) on a machine with ``cuda_devices`` GPUs; pure, so it is testable anywhere."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    world = int(env.get("WORLD_SIZE", "1"))
    rank, local = int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0"))
    if not 0 <= rank < world:
        raise ValueError(f"RANK {rank} is outside a world of {world} processes")
    if device == "cuda" and cuda_devices == 0:
        raise ValueError("device 'cuda' was asked for but CUDA is not available")
    if device == "cpu" or cuda_devices == 0:
        return Launch(rank, world, local, torch.device("cpu"), "gloo")
    if local >= cuda_devices:
        raise ValueError(f"LOCAL_RANK {local} but this machine has {cuda_devices} CUDA devices")
    return Launch(rank, world, local, torch.device("cuda", local), "nccl")


def init_distributed(device: str = "auto") -> Launch:
    """Take this process's device and, with more than one process, join the process group."""
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    launch = plan_launch(os.environ, device, cuda)
    if launch.device.type == "cuda":
        torch.cuda.set_device(launch.device)
    if launch.world_size > 1 and not dist.is_initialized():
        options = {"device_id": launch.device} if launch.device.type == "cuda" else {}
        dist.init_process_group(launch.backend, **options)
    return launch
