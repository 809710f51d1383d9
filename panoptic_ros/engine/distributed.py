"""Multi-process training through torchrun: process group set-up from its environment and small helpers.

torchrun (or any launcher setting RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT) starts one process
per device. NCCL is used when the processes train on CUDA, gloo on CPU. Without those variables everything runs
in a single process and the helpers below are no-ops, so the trainer has one code path.

Two timeouts (config solver.dist_timeout / solver.wait_timeout): collectives of the training step fail after
dist_timeout seconds (a dead or hung process ends the job instead of blocking it forever); the processes that
wait for rank 0 while it validates and writes checkpoints do so at :func:`wait_for_main`, a barrier on a
separate gloo group with wait_timeout, so a long validation never trips the training collectives' timeout.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from panoptic_ros.modeling import resolve_device

log = logging.getLogger(__name__)


@dataclass
class DistInfo:
    """Where this process sits in the job."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    wait_group: Any = None  # gloo group with the long timeout of wait_for_main (None: single process)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and logs."""
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: str | torch.device = "auto", timeout_s: float = 1800.0,
                     wait_timeout_s: float = 86400.0) -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any).

    device: the requested device ("auto" | "cpu" | "cuda" | "cuda:N"). Under torchrun with CUDA each process takes
    cuda:LOCAL_RANK. timeout_s: collective timeout of the process group; wait_timeout_s: that of wait_for_main.
    Raises ValueError for an inconsistent environment (e.g. more local ranks than GPUs).
    """
    world_size = env_world_size()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _resolve(device)
    if world_size <= 1:
        return DistInfo(0, 1, 0, dev)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA device(s) visible")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        for key in ("MASTER_ADDR", "MASTER_PORT"):
            if key not in os.environ:
                raise ValueError(f"WORLD_SIZE={world_size} but {key} is not set: start distributed runs with torchrun")
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=float(timeout_s)))
    wait_group = dist.new_group(backend="gloo", timeout=timedelta(seconds=float(wait_timeout_s)))
    log.debug("rank %d/%d on %s (%s, timeout %.0f s, wait %.0f s)", rank, world_size, dev, backend, timeout_s,
              wait_timeout_s)
    return DistInfo(rank, world_size, local_rank, dev, wait_group)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def wait_for_main(info: DistInfo) -> None:
    """Barrier where the other processes wait for rank 0's solo work (validation, checkpoints) with the long
    wait timeout of the separate gloo group; a plain barrier when there is no such group."""
    if info.wait_group is not None and dist.is_available() and dist.is_initialized():
        dist.barrier(group=info.wait_group)
    else:
        barrier()


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average a dict of floats over all processes (same keys, same order on every rank)."""
    if not (dist.is_available() and dist.is_initialized()) or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def _resolve(device: str | torch.device) -> torch.device:
    """Device choice by modeling's one rule (a torch.device passes as it is)."""
    return device if isinstance(device, torch.device) else resolve_device(device)
