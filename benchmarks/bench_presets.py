"""Seconds per 1280x960 grayscale image for every preset, CPU, float32.

Two figures per preset: the plain eager forward (NCHW, no_grad) and what `midnet deblur`
runs (midnet.inference.restore.make_restorer: the fused channels-last copy for the NAFNet family, an
eval copy for the others; inference_mode; the whole frame, as below 2.5 MP; with the
percentile intensity map around it). Ratios are to nafnet-s's plain forward
measured in the same process.
    python -m benchmarks.bench_presets [--repeats 3] [--presets a,b]
"""

from __future__ import annotations

import argparse

import torch

import midnet
from midnet.inference.settings import RestoreSettings
from benchmarks.common import best_time, threads
from midnet.inference.restore import make_restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (0 for the slow official sizes)")
    parser.add_argument("--presets", default=",".join(midnet.PRESETS))
    args = parser.parse_args()
    x = torch.rand(1, 1, 960, 1280)
    gray = x[0, 0].numpy()
    results = {}
    for name in args.presets.split(","):
        net = midnet.create_model(name).eval()
        with torch.no_grad():
            plain = best_time(lambda: net(x), repeats=args.repeats, warmup=args.warmup)
        restore = make_restorer(RestoreSettings.exact(model=net))  # auto tiling: the whole frame, as 1.2 MP is below 2.5 MP
        product = best_time(lambda: restore(gray), repeats=args.repeats, warmup=args.warmup)
        results[name] = (plain, product)
        print(f"{name:<12} {midnet.count_parameters(net):>12,} params  plain {plain:7.2f} s, "
              f"midnet deblur {product:7.2f} s / 1280x960", flush=True)
    ref = results.get("nafnet-s")
    if ref:
        print(f"\nratios to nafnet-s's plain forward ({threads()} threads, same process):")
        for name, (plain, product) in results.items():
            print(f"  {name:<12} plain {plain / ref[0]:5.2f}x, midnet deblur {product / ref[0]:5.2f}x")


if __name__ == "__main__":
    main()
