"""How far tiled restoration is from the whole-frame result, on a real micrograph, through the restorer.

NAFNet-family blocks pool each channel over the whole input, so no tiling is exact. Both
results come from ``make_restorer`` (intensity map, padding, info bar: what ``midnet deblur``
runs): the frame whole (frames up to 2.5 MP run whole by default, as evaluation measured
them) against the same frame in tiles sharing whole-frame statistics (the default for
larger frames), and, to show why that is the default, in plain tiles (the only change:
``stats_passes=1``). Differences are in grey levels of the file.
    python -m benchmarks.bench_tiling [--image ../shared/data/sem-pairs/blur/1-1.png] [--tile 768 --overlap 128]
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np

from benchmarks.common import product_model
from midnet.inference import restore
from midnet.data.shared import shared_pairs
from midnet.inference.settings import RestoreSettings
from midnet.images.io import read_image
from midnet.inference.restore import make_restorer


def difference(tiled: np.ndarray, whole: np.ndarray) -> str:
    d = np.abs(tiled.astype(np.float64) - whole.astype(np.float64))
    return (f"max {d.max():.0f} level(s), mean {d.mean():.4f}, pixels more than 1 level apart "
            f"{np.mean(d > 1):.4%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image", default=str(shared_pairs() / "blur" / "1-1.png"))
    parser.add_argument("--tile", type=int, default=768)
    parser.add_argument("--overlap", type=int, default=128)
    args = parser.parse_args()
    net, label = product_model()
    image = read_image(args.image).array
    if image.shape[0] * image.shape[1] > restore.AUTO_WHOLE_PIXELS:
        raise SystemExit(f"{args.image}: over {restore.AUTO_WHOLE_PIXELS:,} pixels the restorer tiles it too; "
                         "give a smaller frame to compare with")
    whole = make_restorer(RestoreSettings.exact(model=net)).deblur(image)
    shared = make_restorer(RestoreSettings.exact(model=net, tile=args.tile, overlap=args.overlap)).deblur(image)
    plain_tiles = functools.partial(restore.predict_tiled, stats_passes=1)
    original, restore.predict_tiled = restore.predict_tiled, plain_tiles
    try:
        plain = make_restorer(RestoreSettings.exact(model=net, tile=args.tile, overlap=args.overlap)).deblur(image)
    finally:
        restore.predict_tiled = original
    print(f"{label}, {Path(args.image).name} {image.shape[1]}x{image.shape[0]} {image.dtype}, "
          f"tile {args.tile} overlap {args.overlap}, against the whole frame:")
    print(f"  shared statistics (default): {difference(shared, whole)}")
    print(f"  plain tiles:                 {difference(plain, whole)}")


if __name__ == "__main__":
    main()
