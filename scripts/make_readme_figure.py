"""Make docs/images/before_after.png: a held-out micrograph restored by the fold model that never saw it.

    python scripts/make_readme_figure.py [--fold-run runs/sem-fold1] [--name 5-1]

Reads the shared SEM pairs (--data, default $MIDNET_DATA or ../shared/data/sem-pairs), registered as `midnet eval` does
(the blurry frame resampled onto the sharp one); writes the blurry input, the restoration
and the sharp exposure side by side, with a 3x detail of each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from midnet.data.shared import shared_pairs
import midnet
from midnet.inference.settings import EXACT
from midnet.data.pairs import load_pairs
from midnet.quality.figures import compare_figure

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fold-run", default=str(ROOT / "runs" / "sem-fold0"))
    parser.add_argument("--name", default="1-1", help="a micrograph held out by that fold")
    parser.add_argument("--data", default=str(shared_pairs()))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "before_after.png"))
    args = parser.parse_args()
    (pair,) = load_pairs(args.data, "auto", [args.name])  # registered as midnet eval scores it
    restored = midnet.deblur(pair.blur, model=str(Path(args.fold_run) / "last.safetensors"), infobar="none", **EXACT)
    b, r, s = (np.round(np.clip(a, 0, 1) * 255).astype(np.uint8) for a in (pair.blur, restored, pair.sharp))
    h, w = b.shape
    compare_figure(b, r, args.out, detail=(h // 2 - 80, w // 2 - 120, 160),
                   labels=("blurry input", "midnet (never saw this micrograph)", "sharp exposure"), extra=[s])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
