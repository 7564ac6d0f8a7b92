"""Helpers shared by the benchmarks: timing by best-of-N, and the model to measure."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``repeats`` calls after ``warmup`` (noisy shared machines: the minimum is the signal)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def product_model(name: str = "midnet-sem"):
    """The shipped model when present, else the same architecture with random weights."""
    import midnet
    from midnet.errors import MidnetError

    try:
        return midnet.load_model(name), name
    except MidnetError:
        net = midnet.create_model("midnet-s").eval()
        return net, "midnet-s (random weights: midnet-sem not shipped)"


def threads() -> int:
    return torch.get_num_threads()
