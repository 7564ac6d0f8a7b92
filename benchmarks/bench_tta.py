"""The time cost of test-time augmentation: `midnet deblur --tta` against the plain restorer.

One 1280x960 gray frame (the shared micrographs' size), the shipped model, both restorers
built once by make_restorer and timed best-of-N in the same process; the ratio is the
figure (machines here are noisy).
    python -m benchmarks.bench_tta [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.common import best_time, product_model, threads
from midnet.inference.restore import make_restorer
from midnet.inference.settings import RestoreSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    net, label = product_model()
    gray = np.random.default_rng(0).random((960, 1280), dtype=np.float32)
    plain, tta = make_restorer(RestoreSettings.exact(model=net)), make_restorer(RestoreSettings.exact(model=net, tta=True))
    t_plain = best_time(lambda: plain(gray), repeats=args.repeats)
    t_tta = best_time(lambda: tta(gray), repeats=args.repeats)
    print(f"{label}, 1280x960, {threads()} threads: plain {t_plain:.2f} s, 8-view TTA {t_tta:.2f} s, "
          f"ratio {t_tta / t_plain:.2f}x")


if __name__ == "__main__":
    main()
