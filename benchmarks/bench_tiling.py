"""How far tiled restoration is from the whole-image result, on a real micrograph.

NAFNet-family blocks pool each channel over the whole input, so no tiling is exact; this
prints the largest and mean difference for plain tiles and for tiles sharing whole-frame
statistics (the default), with the shipped weights.
    python -m benchmarks.bench_tiling [--image ../shared/data/sem-pairs/blur/1-1.png] [--tile 768 --overlap 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import product_model
from midnet.infobar import detect_infobar
from midnet.io import read_image, to_gray_float
from midnet.tiling import predict_tiled

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=str(ROOT.parent / "shared" / "data" / "sem-pairs" / "blur" / "1-1.png"))
    parser.add_argument("--tile", type=int, default=768)
    parser.add_argument("--overlap", type=int, default=128)
    args = parser.parse_args()
    net, label = product_model()
    array = read_image(args.image).array
    gray = to_gray_float(array)[: array.shape[0] - detect_infobar(array)]
    x = torch.from_numpy(np.ascontiguousarray(gray))[None, None]
    with torch.no_grad():
        whole = net(x)
        for passes in (1, 2):
            d = (predict_tiled(net, x, tile=args.tile, overlap=args.overlap, stats_passes=passes) - whole).abs()
            print(f"{label}, {gray.shape[1]}x{gray.shape[0]}, tile {args.tile} overlap {args.overlap}, "
                  f"stats_passes={passes}: max {d.max():.5f} mean {d.mean():.6f} (8-bit levels: max {255 * d.max():.2f})")


if __name__ == "__main__":
    main()
