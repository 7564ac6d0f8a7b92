"""Make docs/images/before_after.png: a held-out micrograph restored by the fold model that never saw it.

    python scripts/make_readme_figure.py [--fold-run runs/sem-fold1] [--name 5-1]

Reads the shared SEM pairs (../shared/data/sem-pairs); writes the blurry input, the
restoration and the sharp exposure side by side, with a 3x detail of each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import midnet
from midnet.data.pairs import align_to, measure_shift
from midnet.figures import compare_figure
from midnet.infobar import detect_infobar
from midnet.io import read_image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fold-run", default=str(ROOT / "runs" / "sem-fold0"))
    parser.add_argument("--name", default="1-1", help="a micrograph held out by that fold")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sem-pairs"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "before_after.png"))
    args = parser.parse_args()
    data = Path(args.data)
    blur = read_image(data / "blur" / f"{args.name}.png").array[..., 0]
    sharp = read_image(data / "sharp" / f"{args.name}.png").array[..., 0]
    restored = midnet.deblur(blur, model=str(Path(args.fold_run) / "last.safetensors"))
    rows = detect_infobar(blur)
    body = slice(0, blur.shape[0] - rows)
    # show the sharp exposure registered onto the blurry one, so the three panels line up
    shift = measure_shift(blur[body].astype(np.float32), sharp[body].astype(np.float32))
    b, s = align_to(blur[body], sharp[body], shift)
    r, _ = align_to(restored[body], sharp[body], shift)
    h, w = b.shape
    compare_figure(b, r, args.out, detail=(h // 2 - 80, w // 2 - 120, 160),
                   labels=("blurry input", "midnet (never saw this micrograph)", "sharp exposure"), extra=[s])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
