"""How far a model moves frames with nothing to restore: flat frames and smooth ramps (docs/results.md 11.5).

    python scripts/flat_frames.py [--network-only] midnet-sem [other.safetensors ...]

For each model (exact fp32 on PyTorch, whole frame, no info bar) and each 256x256 8-bit case it
prints the largest change in grey levels, the share of pixels moved by more than one level, and
the same inside an 8 px border (the network's zero padding reaches the frame's outer pixels).
"""

from __future__ import annotations

import argparse

import numpy as np

from midnet.inference import restore
from midnet.inference.restore import make_restorer
from midnet.inference.settings import RestoreSettings

SIDE, BORDER = 256, 8
CASES = {
    "all 128": np.full((SIDE, SIDE), 128.0),
    "all 0": np.zeros((SIDE, SIDE)),
    "all 255": np.full((SIDE, SIDE), 255.0),
    "ramp 60-160": np.tile(np.linspace(60, 160, SIDE), (SIDE, 1)),
    "ramp 20-230 (vertical)": np.tile(np.linspace(20, 230, SIDE), (SIDE, 1)).T,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="Model names or weights files.")
    ap.add_argument("--network-only", action="store_true",
                    help="Send frames of one value through the network too (the restorer returns them as they are).")
    args = ap.parse_args()
    if args.network_only:
        restore._one_value = lambda gray: False  # what the network itself does with them (issue 33, fault 12)
    print("| model | case | max change | share > 1 level | max inside | share > 1 inside |")
    print("| --- | --- | --- | --- | --- | --- |")
    for model in args.models:
        restorer = make_restorer(RestoreSettings.exact(model=model))
        for name, clean in CASES.items():
            frame = np.clip(np.round(clean), 0, 255).astype(np.uint8)
            moved = np.abs(restorer.deblur(frame, infobar=None).astype(float) - clean)
            inside = moved[BORDER:-BORDER, BORDER:-BORDER]
            print(f"| {model} | {name} | {moved.max():.1f} | {(moved > 1).mean():.2%} | {inside.max():.1f} | "
                  f"{(inside > 1).mean():.2%} |")


if __name__ == "__main__":
    main()
