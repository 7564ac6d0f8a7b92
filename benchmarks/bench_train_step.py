"""midnet's training step against the plain eager step, at the CPU recipe's preset, crop and batch.

One step is the forward pass, the paper's loss (L1 + 0.05 edge + 0.01 FFT), backward and
the Adam update. Reference: the plain step of the official code (float32 NCHW). Product
path: what `midnet train` runs (channels-last layout, which also routes LayerNorm2d to
ATen's fused kernel). Two copies of the same initial weights take the same batches: the
first --steps steps give both loss trajectories (they must agree within float rounding),
then steps alternate between the two (a shared machine's drifts hit both) and the median
step time of each is compared.
    python -m benchmarks.bench_train_step [--config configs/cpu.yaml] [--steps 20] [--timed 15]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from midnet.data.crops import sample_batch
from midnet.training.losses import RestorationLoss
from midnet.training import build_network, load_config, training_step


def _pairs(config):
    """The recipe's pairs when ../shared is here, else smooth generated ones of the same size."""
    from midnet.data.pairs import load_pairs

    if Path(config.data.path).is_dir():
        return load_pairs(config.data.path, config.data.infobar, align=config.data.align, warn_shift=False), "real pairs"
    rng = np.random.default_rng(0)
    sharp = rng.random((768, 1024), dtype=np.float32)
    blur = (sharp + np.roll(sharp, 1, 0) + np.roll(sharp, 1, 1) + np.roll(sharp, 2, 1)) / 4
    return [("generated", blur, sharp)], "generated pairs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/cpu.yaml")
    parser.add_argument("--steps", type=int, default=20, help="steps compared for the loss trajectory")
    parser.add_argument("--timed", type=int, default=15, help="timed steps of each kind after those")
    args = parser.parse_args()
    config = load_config(args.config)
    if config.threads:
        torch.set_num_threads(config.threads)
    pairs, source = _pairs(config)
    torch.manual_seed(config.seed)
    model, _ = build_network(config.model)
    runs = {}
    for name, layout in (("plain", torch.contiguous_format), ("midnet", torch.channels_last)):
        net = copy.deepcopy(model).to(memory_format=layout).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=config.optim.lr, betas=config.optim.betas)
        runs[name] = dict(net=net, opt=optimizer, layout=layout, losses=[], times=[])
    criterion = RestorationLoss(config.loss)

    def step(run, it: int) -> None:
        x, y = sample_batch(pairs, config.data.batch, config.data.crop, config.seed, it, 0, config.data.augment)
        t0 = time.perf_counter()
        loss, _ = training_step(run["net"], criterion, run["opt"], x.contiguous(memory_format=run["layout"]), y)
        value = loss.item()  # synchronises, as the training loop does
        run["times"].append(time.perf_counter() - t0)
        run["losses"].append(value)

    for it in range(args.steps + args.timed):
        for run in runs.values():
            step(run, it)
    plain, fast = runs["plain"], runs["midnet"]
    a, b = np.array(plain["losses"][: args.steps]), np.array(fast["losses"][: args.steps])
    t_plain = statistics.median(plain["times"][args.steps:])
    t_fast = statistics.median(fast["times"][args.steps:])
    print(f"{config.model.preset}; batch {config.data.batch} x {config.data.crop}^2 crops of {source}; "
          f"{torch.get_num_threads()} threads; median of {args.timed} alternating steps")
    print(f"plain eager step (NCHW):               {t_plain * 1000:7.1f} ms")
    print(f"midnet train step (channels-last):     {t_fast * 1000:7.1f} ms")
    print(f"speed-up: {t_plain / t_fast:.2f}x")
    print(f"loss trajectory over {args.steps} steps: first {a[0]:.6f} / {b[0]:.6f}, last {a[-1]:.6f} / {b[-1]:.6f}, "
          f"max |difference| {np.abs(a - b).max():.2e} (max relative {np.abs(a - b).max() / np.abs(a).min():.2e})")


if __name__ == "__main__":
    main()
