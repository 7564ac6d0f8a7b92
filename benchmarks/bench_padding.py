"""What the network's padding mode costs: the same weights with zero padding and with reflection.

``UNetConfig.padding`` (midnet/models/nafnet.py) decides what every 3x3 convolution sees beyond
the frame's edge. Reflection is an explicit pad before each convolution, zeros are folded into
it; this times both on one 1280x1024 frame through the restorer (PyTorch fp32, whole frame),
in this process, alternating, best of N, and prints the ratio.
    python -m benchmarks.bench_padding [--repeats 5] [--engine torch]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import product_model, threads
from midnet.inference.restore import make_restorer
from midnet.inference.settings import RestoreSettings
from midnet.models import build_model


def with_padding(net: torch.nn.Module, padding: str) -> torch.nn.Module:
    """A copy of ``net`` whose convolutions pad with ``padding``: the same weights."""
    other = build_model(net.config.model_copy(update={"padding": padding})).eval()
    other.load_state_dict(net.state_dict())
    return other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--engine", default="torch", help="torch, onnx or openvino (fp32)")
    args = parser.parse_args()
    net, label = product_model()
    frame = np.clip(np.random.default_rng(0).normal(128, 40, (1024, 1280)), 0, 255).astype(np.uint8)
    restorers = {pad: make_restorer(RestoreSettings(model=with_padding(net, pad), engine=args.engine,
                                                    precision="fp32"))
                 for pad in ("zeros", "reflect")}
    times: dict[str, list[float]] = {pad: [] for pad in restorers}
    for restorer in restorers.values():
        restorer.deblur(frame, infobar=None)  # warm-up (and, for onnx/openvino, the export)
    for _ in range(args.repeats):  # alternate, so drifts of a shared machine hit both
        for pad, restorer in restorers.items():
            t0 = time.perf_counter()
            restorer.deblur(frame, infobar=None)
            times[pad].append(time.perf_counter() - t0)
    zeros, reflect = min(times["zeros"]), min(times["reflect"])
    print(f"{label}, {args.engine} fp32, 1280x1024, {threads()} threads, best of {args.repeats}")
    print(f"zeros    {zeros:.3f} s")
    print(f"reflect  {reflect:.3f} s   {reflect / zeros:.2f}x the time of zeros")


if __name__ == "__main__":
    main()
