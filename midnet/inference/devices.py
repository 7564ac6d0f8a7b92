"""Choosing the compute device: CUDA (one GPU per torchrun rank), Apple MPS, or the CPU."""

from __future__ import annotations

import os
import re

import torch

from ..errors import MidnetError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE_RE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(name: str) -> str:
    """The device name in canonical form (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``); MidnetError otherwise.

    Only the spelling is checked here; whether the device exists is :func:`pick_device`'s question.
    """
    canonical = str(name).strip().lower()
    if not _DEVICE_RE.fullmatch(canonical):
        raise MidnetError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return canonical


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` takes CUDA, then MPS, then the CPU; a bare ``cuda`` takes this rank's GPU (LOCAL_RANK).

    An unknown name, or a device this machine does not have, raises MidnetError with what to use instead.
    """
    if isinstance(name, torch.device):
        return name
    name = check_device_name(name or "auto")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise MidnetError("mps requested but no Apple MPS device is available; use --device cpu (or auto)")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise MidnetError("cuda requested but no CUDA device is available; use --device cpu (or auto)")
    index = local_rank if name == "cuda" else int(name.split(":")[1])
    count = torch.cuda.device_count()
    if index >= count:
        raise MidnetError(f"cuda:{index} requested but this machine has {count} CUDA device(s) "
                          f"(cuda:0..cuda:{count - 1}); use --device cuda:0 or cpu")
    return torch.device("cuda", index)
