"""The noise of the real exposures: what midnet/data/degrade.py's noise model was fitted to.

    python scripts/noise_report.py [--data DIR]      (default: $MIDNET_DATA or ../shared/data/sem-pairs)

For each blurry and sharp exposure (info bar cut, 8-bit grey levels) it prints:
- ``sigma``: Immerkaer's estimate (1996): the frame through the 3x3 Laplacian difference of two
  Laplacians, whose response to smooth content is near zero, mean absolute value x sqrt(pi/2)/6;
- ``corr x`` / ``corr y``: the lag-1 correlation of the residual (frame less a 2 px Gaussian) along
  the scan line and across it, which a scan-correlated noise would make positive along x;
- the residual's robust sd (1.4826 x MAD) in three bands of the local mean level, which says how
  the noise grows with the signal (the exponent: log sd ratio over log level ratio).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import convolve2d

from midnet.data import find_pairs
from midnet.data.shared import shared_pairs
from midnet.images.infobar import resolve_infobar
from midnet.images.io import read_image, to_gray_float

LAPLACIAN_DIFFERENCE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def immerkaer_sigma(gray: np.ndarray) -> float:
    response = convolve2d(gray, LAPLACIAN_DIFFERENCE, mode="valid")
    return float(np.sqrt(np.pi / 2) * np.abs(response).mean() / 6)


def lag1(residual: np.ndarray, axis: int) -> float:
    a = residual[:, :-1] if axis == 1 else residual[:-1]
    b = residual[:, 1:] if axis == 1 else residual[1:]
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def banded_sd(gray: np.ndarray, smooth: np.ndarray) -> list[tuple[float, float]]:
    """(mean level, robust sd of the residual) in the 5-35, 35-65 and 65-95 percent bands of the local level."""
    residual, edges = gray - smooth, np.quantile(smooth, [0.05, 0.35, 0.65, 0.95])
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        r = residual[(smooth >= lo) & (smooth < hi)]
        out.append((float(smooth[(smooth >= lo) & (smooth < hi)].mean()), float(1.4826 * np.median(np.abs(r - np.median(r))))))
    return out


def report(path) -> str:
    gray = to_gray_float(read_image(path).array).astype(np.float64) * 255
    rows = resolve_infobar("auto", gray)
    gray = gray[: gray.shape[0] - rows] if rows else gray
    smooth = gaussian_filter(gray, 2.0)
    bands = banded_sd(gray, smooth)
    exponent = np.log(bands[-1][1] / bands[0][1]) / np.log(bands[-1][0] / bands[0][0])
    shown = ", ".join(f"{level:.0f}: {sd:.2f}" for level, sd in bands)
    return (f"sigma {immerkaer_sigma(gray):.2f}  corr x {lag1(gray - smooth, 1):+.2f} y {lag1(gray - smooth, 0):+.2f}"
            f"  sd by level ({shown})  exponent {exponent:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(shared_pairs()))
    args = ap.parse_args()
    for kind in (1, 2):  # blurry, then sharp exposures
        for name, *paths in find_pairs(args.data):
            print(f"{('blur', 'sharp')[kind - 1]:<5} {name}: {report(paths[kind - 1])}")


if __name__ == "__main__":
    main()
