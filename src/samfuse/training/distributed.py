"""Processes and devices: single process, or one process per device under ``torchrun``.

``torchrun --nproc_per_node N -m samfuse train …`` (or ``python -m torch.distributed.run``) sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous address; :func:`init_distributed` then joins the process
group (NCCL on CUDA, gloo on CPU) and gives each process its device (``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from samfuse.io import InputError

__all__ = ["DistInfo", "init_distributed", "close_distributed", "ResumableSampler", "barrier", "all_reduce_max"]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "cpu", *, timeout_minutes: float = 60.0) -> DistInfo:
    """Join the torchrun process group if the environment describes one (``WORLD_SIZE`` > 1).

    ``device``: ``cpu``, ``cuda`` or ``cuda:N``; under torchrun ``cuda`` becomes ``cuda:LOCAL_RANK``.
    The timeout covers the longest wait at a barrier (rank 0 computing masks the others need).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        if world > 1 or dev.index is None:
            dev = torch.device("cuda", local)  # one device per process; "cuda" alone means cuda:0
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
    return DistInfo(rank, local, world, dev)


def close_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_max(values: list[float], device: torch.device) -> list[float]:
    """Element-wise maximum over all processes (identity in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def all_reduce_mean(values: list[float], device: torch.device) -> list[float]:
    """Element-wise mean over all processes (identity in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / dist.get_world_size()).tolist()


class ResumableSampler(DistributedSampler):
    """:class:`DistributedSampler` (shuffled by ``seed + epoch``, tail dropped so every process gets the same
    count) that can start part-way into an epoch: :meth:`set_start` skips the first ``n`` samples of this
    process in the current epoch, without loading them.

    With the global batch ``B`` split into ``B / world`` per process, process ``r``'s ``k``-th batch holds
    ``perm[k·B + r + world·j]``; over all processes that is ``perm[k·B : (k+1)·B]``, the same samples a
    single process draws as its ``k``-th batch.
    """

    def __init__(self, dataset, *, num_replicas: int, rank: int, seed: int) -> None:  # noqa: ANN001
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def set_start(self, start: int) -> None:
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)
