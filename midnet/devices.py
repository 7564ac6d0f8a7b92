"""Choosing the compute device: CUDA (one GPU per torchrun rank), Apple MPS, or the CPU."""

from __future__ import annotations

import os

import torch


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` takes CUDA, then MPS, then the CPU; a bare ``cuda`` takes this rank's GPU (LOCAL_RANK)."""
    if isinstance(name, torch.device):
        return name
    name = name or "auto"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    if name == "auto":
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)
