"""Data-parallel training under `torchrun`: process-group setup, rank-0 duties, sharded order.

`torchrun --nproc_per_node N -m nas.cli.main train ...` sets RANK / WORLD_SIZE / LOCAL_RANK;
`setup()` reads them and joins the group (gloo on CPU, nccl on CUDA). Without them it is a
single process and every helper here degrades to a no-op, so the trainer has one code path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: `rank` of `world_size`, and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str = "cpu") -> DistInfo:
    """Join the process group torchrun describes (if any) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        if not torch.cuda.is_available():
            from nas.errors import UserError

            raise UserError("--device cuda: no CUDA device is available; use --device cpu")
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather_object(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list outside DDP)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's `obj` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.enabled:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / info.world_size


class EpochSampler(Sampler[int]):
    """Indices of one epoch for one rank, a pure function of (seed, epoch, rank, world).

    The epoch is permuted with a generator seeded by (seed, epoch), trimmed to a whole number of
    global batches, and dealt round-robin to ranks (as `DistributedSampler` does). `start` skips
    the first samples of this rank's share, so a resumed run continues at the exact batch.

    Args:
        size: dataset length.
        batch_size: per-rank batch size (the trim keeps every step a full batch on every rank).
        seed: run seed.
        epoch: epoch index.
        rank: this process's rank.
        world_size: number of ranks.
        shuffle: permute (training) or keep dataset order (evaluation; no trim then).
        start: samples of this rank's share to skip.
    """

    def __init__(
        self,
        size: int,
        *,
        batch_size: int = 1,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        start: int = 0,
    ) -> None:
        self.size, self.batch_size = size, batch_size
        self.seed, self.epoch = seed, epoch
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.start = shuffle, start

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
            per_rank = steps_per_epoch(self.size, self.batch_size, self.world_size) * self.batch_size
            while order and len(order) < per_rank * self.world_size:  # a set smaller than one global batch
                order += order
            order = order[: per_rank * self.world_size]
        else:
            order = list(range(self.size))
        return order[self.rank :: self.world_size][self.start :]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())


def steps_per_epoch(size: int, batch_size: int, world_size: int = 1) -> int:
    """Full global batches in one pass over `size` samples (at least 1: tiny sets still train)."""
    return max(1, size // (batch_size * world_size))
