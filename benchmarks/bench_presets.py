"""Seconds per 1280x960 grayscale image for every preset (plain eager forward, CPU, float32).

Prints each preset's time and its ratio to nafnet-s measured in the same process.
    python -m benchmarks.bench_presets [--repeats 3] [--presets a,b]
"""

from __future__ import annotations

import argparse

import torch

import midnet
from benchmarks.common import best_time, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", default=",".join(midnet.PRESETS))
    args = parser.parse_args()
    x = torch.rand(1, 1, 960, 1280)
    results = {}
    for name in args.presets.split(","):
        net = midnet.create_model(name).eval()
        with torch.no_grad():
            results[name] = best_time(lambda: net(x), repeats=args.repeats)
        print(f"{name:<12} {midnet.count_parameters(net):>12,} params  {results[name]:7.2f} s / 1280x960", flush=True)
    ref = results.get("nafnet-s")
    if ref:
        print(f"\nratios to nafnet-s ({threads()} threads, same process):")
        for name, t in results.items():
            print(f"  {name:<12} {t / ref:5.2f}x")


if __name__ == "__main__":
    main()
