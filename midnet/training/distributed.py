"""Several processes with DDP, launched by ``torchrun``: which rank this is, and keeping ranks in step."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class Ranks:
    distributed: bool
    rank: int
    world: int
    owns_group: bool  # this call started the process group, so it ends it

    @property
    def main(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0


def start_ranks(device_setting: str) -> Ranks:
    """Join the process group torchrun describes in the environment (a single process otherwise)."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    owns_group = distributed and not dist.is_initialized()
    if owns_group:
        backend = "nccl" if torch.cuda.is_available() and device_setting in ("auto", "cuda") else "gloo"
        dist.init_process_group(backend)
    if not distributed:
        return Ranks(False, 0, 1, False)
    return Ranks(True, dist.get_rank(), dist.get_world_size(), owns_group)


def end_ranks(ranks: Ranks) -> None:
    if ranks.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def agree(ranks: Ranks, device: torch.device, stop: bool, signum: int | None, bad: bool) -> tuple[bool, int | None, bool]:
    """(stop, signal, non-finite loss) as any rank saw them: every rank stops (or fails) at the same
    step, or the next collective deadlocks."""
    if not ranks.distributed:
        return stop, signum, bad
    flags = torch.tensor([float(stop), float(signum or 0), float(bad)], device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return bool(flags[0]), int(flags[1]) or None, bool(flags[2])


def record_ranks(model: nn.Module, first_batch_sum: float | None, out: Path, ranks: Ranks) -> None:
    """Write out/ranks.json: each rank's weight checksum (equal) and first-batch checksum (different)."""
    weights_sum = float(sum(p.detach().double().sum() for p in model.parameters()).cpu())
    gathered: list[Any] = [None] * ranks.world
    dist.all_gather_object(gathered, {"rank": ranks.rank, "weights_checksum": weights_sum,
                                      "first_batch_checksum": first_batch_sum})
    if ranks.main:
        (out / "ranks.json").write_text(json.dumps(gathered, indent=1))
    dist.barrier()
