"""PSNR of a restoration inside a 48 px border and within it, per micrograph (docs/results.md 11.5).

    python scripts/experiments/edge_bands.py WEIGHTS [NAME ...]     (default names: 1-1 2-1 3-1)

Each pair is registered as `midnet eval` registers it (affine), restored in exact fp32, quantised as
`midnet eval` quantises it, and scored against its sharp frame over the whole frame, inside the
border, and in the border only: where a change to the frame's edges costs or gains.
"""

from __future__ import annotations

import argparse

import numpy as np

from midnet.data import load_pairs
from midnet.data.shared import shared_pairs
from midnet.inference.restore import make_restorer
from midnet.inference.settings import RestoreSettings
from midnet.quality.evaluate import quantise

BORDER = 48


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("names", nargs="*", default=["1-1", "2-1", "3-1"])
    args = ap.parse_args()
    restorer = make_restorer(RestoreSettings.exact(model=args.weights))
    for pair in load_pairs(shared_pairs(), "auto", args.names, align="affine", warn_shift=False):
        error = (quantise(restorer(pair.blur), pair.full_scale) - pair.sharp) ** 2
        inner = np.zeros(error.shape, bool)
        inner[BORDER:-BORDER, BORDER:-BORDER] = True
        psnr = {k: 10 * np.log10(1 / error[m].mean()) for k, m in
                (("all", np.ones_like(inner)), ("inside", inner), ("border", ~inner))}
        print(f"{pair.name}: all {psnr['all']:.2f} inside {psnr['inside']:.2f} border {psnr['border']:.2f} dB")


if __name__ == "__main__":
    main()
