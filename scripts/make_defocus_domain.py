"""A blur domain midnet-sem never saw: the shared sharp frames through a defocus disc and shot noise.

Each sharp exposure is convolved with a uniform disc (the geometric-optics defocus PSF,
unlike the real pairs' smooth blur) and its intensities are turned into Poisson counts
at a stated dose, then rescaled; the info bar rows are copied unchanged. The sharp
exposure stays the target. Used by docs/results.md's fine-tuning figures.

    python scripts/make_defocus_domain.py ../shared/data/sem-pairs runs/defocus-pairs --radius 4 --dose 60
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.signal import fftconvolve

from midnet.data.pairs import find_pairs
from midnet.images.infobar import detect_infobar
from midnet.images.io import read_image, to_gray_float


def disc(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    kernel = ((yy**2 + xx**2) <= radius**2).astype(np.float64)
    return kernel / kernel.sum()


def defocus(sharp: np.ndarray, radius: float, dose: float, rng: np.random.Generator) -> np.ndarray:
    """``sharp`` (float, [0, 1]) blurred by a disc, as Poisson counts at ``dose`` per unit intensity."""
    pad = int(np.ceil(radius)) + 1
    blurred = fftconvolve(np.pad(sharp, pad, mode="reflect"), disc(radius), mode="same")[pad:-pad, pad:-pad]
    counts = rng.poisson(np.clip(blurred, 0, None) * dose)
    return np.clip(counts / dose, 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--radius", type=float, default=4.0, help="disc radius, pixels")
    parser.add_argument("--dose", type=float, default=60.0, help="Poisson counts per unit intensity")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for sub in ("blur", "sharp"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    for name, _, sharp_path in find_pairs(args.pairs):
        frame = read_image(sharp_path).array
        gray8 = np.round(to_gray_float(frame) * 255).astype(np.uint8)
        rows = detect_infobar(gray8)
        body = gray8[: gray8.shape[0] - rows].astype(np.float64) / 255
        blur8 = gray8.copy()
        blur8[: gray8.shape[0] - rows] = np.round(defocus(body, args.radius, args.dose, rng) * 255)
        Image.fromarray(blur8).save(args.out / "blur" / f"{name}.png")
        Image.fromarray(gray8).save(args.out / "sharp" / f"{name}.png")
        print(f"{name}: disc radius {args.radius}, dose {args.dose}, info bar {rows} rows kept")


if __name__ == "__main__":
    main()
