"""midnet's inference path against the plain eager forward, on a 1280x960 grayscale image.

Reference: what the official NAFNet code does: float32 NCHW, torch.no_grad(), the whole
image, the same module and weights. Product path: midnet.deblur's restorer (fused
blocks, channels-last, inference_mode). Both in this process, alternating, best of N.
Prints both times, their ratio and the largest difference of the float outputs.
    python -m benchmarks.bench_inference [--repeats 5] [--model midnet-sem]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import product_model, threads
from midnet.restore import make_restorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="midnet-sem")
    args = parser.parse_args()
    net, label = product_model(args.model)
    gray = np.random.default_rng(0).random((960, 1280), dtype=np.float32)
    x = torch.from_numpy(gray)[None, None]

    def plain() -> np.ndarray:
        with torch.no_grad():
            return net(x)[0, 0].numpy()

    restore = make_restorer(net)  # what midnet.deblur runs (the fast copy is built once, here)
    ref, fast = plain(), restore(gray)  # warm-up, and the equality check
    t_plain, t_fast = [], []
    for _ in range(args.repeats):  # alternate, so drifts of a shared machine hit both
        t0 = time.perf_counter(); plain(); t_plain.append(time.perf_counter() - t0)  # noqa: E702
        t0 = time.perf_counter(); restore(gray); t_fast.append(time.perf_counter() - t0)  # noqa: E702
    p, f = min(t_plain), min(t_fast)
    print(f"model {label}; 1280x960 gray; {threads()} threads; best of {args.repeats}")
    print(f"plain eager forward (NCHW, no_grad):  {p:6.3f} s")
    print(f"midnet.deblur restorer:               {f:6.3f} s")
    print(f"speed-up: {p / f:.2f}x; max |difference| of float outputs: {np.abs(ref - fast).max():.2e}")


if __name__ == "__main__":
    main()
