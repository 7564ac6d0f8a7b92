"""How far apart the blurry and sharp crops a network trains on still are, after registration.

Training crops come from the registered pairs (`load_pairs`, `data.align: affine`). This
cuts every pair, as registered, into the recipe's 192 px crops on a grid and measures each
crop's remaining sub-pixel shift by cross-correlation upsampled 20x (plain, not whitened:
whitened correlation locks onto the blurry frame's noise, docs/results.md section 0). Flat
crops (too little structure to lock onto) are skipped. It prints, per micrograph, the rms,
median and 90th percentile of the shift length, the median shift, and the spread of the
crops about that median: a shift shared by the whole frame can also be the centre of an
asymmetric blur (an SEM's detector lags along the scan line) and a network learns it from
any crop; only the spread is misalignment that changes from crop to crop, which a
per-crop re-registration of the target could remove.

With --batches N it then draws N training batches of the recipe (4 crops) twice, with the
targets as the frame's registration leaves them and with `data.target_shift: local`, and
prints the largest shift left between input and target over each crop's four quarters.
    python scripts/residual_shift_report.py [--data ../shared/data/sem-pairs] [--crop 192] [--batches 50]
"""

from __future__ import annotations

import argparse

import numpy as np
from skimage.registration import phase_cross_correlation

from midnet.data.crops import sample_batch
from midnet.data.local_shift import patch_shifts
from midnet.data.pairs import load_pairs
from midnet.data.shared import shared_pairs


def crop_shifts(blur: np.ndarray, sharp: np.ndarray, crop: int) -> np.ndarray:
    """(n, 2) sub-pixel (dy, dx) that moves each sharp crop onto its blurry crop, flat crops left out."""
    _, _, grid = patch_shifts(blur, sharp, crop, crop // 2)
    shifts = grid.reshape(-1, 2)
    return shifts[~np.isnan(shifts).any(axis=1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(shared_pairs()))
    parser.add_argument("--crop", type=int, default=192)
    parser.add_argument("--batches", type=int, default=0, help="also compare N training batches, frame vs local targets")
    args = parser.parse_args()
    pairs = load_pairs(args.data, "auto", align="affine", warn_shift=False)
    grid_table(pairs, args.crop)
    if args.batches:
        print()
        print("| training targets | crops | largest quarter shift: median / 90th pct / max (px) | crops > 0.5 px |")
        print("| --- | --- | --- | --- |")
        for local in (False, True):
            left = np.concatenate([quarter_shifts(*sample_batch(pairs, 4, args.crop, 0, it, local_targets=local))
                                   for it in range(args.batches)])
            print(f"| {'local' if local else 'frame'} | {len(left)} | {np.median(left):.2f} / "
                  f"{np.percentile(left, 90):.2f} / {left.max():.2f} | {np.mean(left > 0.5):.0%} |")


def quarter_shifts(x, y) -> np.ndarray:
    """Each crop's largest shift between input and target over its four quarters."""
    out = []
    for a, b in zip(x[:, 0].numpy(), y[:, 0].numpy()):
        n = a.shape[0] // 2
        out.append(max(float(np.hypot(*phase_cross_correlation(a[r:r + n, c:c + n], b[r:r + n, c:c + n],
                                                               upsample_factor=20, normalization=None)[0]))
                       for r in (0, n) for c in (0, n)))
    return np.array(out)


def grid_table(pairs, crop: int) -> None:
    print("| micrograph | crops | shift length rms / median / 90th pct (px) | median (dy, dx) "
          "| spread about the median: median / 90th pct (px) | crops > 0.5 px from it |")
    print("| --- | --- | --- | --- | --- | --- |")
    lengths, spreads = [], []
    for p in pairs:
        shifts = crop_shifts(p.blur, p.sharp, crop)
        length = np.hypot(shifts[:, 0], shifts[:, 1])
        centre = np.median(shifts, axis=0)
        spread = np.hypot(*(shifts - centre).T)
        lengths.append(length)
        spreads.append(spread)
        print(f"| {p.name} | {len(shifts)} | {_rms(length):.2f} / {np.median(length):.2f} / {np.percentile(length, 90):.2f} "
              f"| ({centre[0]:+.2f}, {centre[1]:+.2f}) | {np.median(spread):.2f} / {np.percentile(spread, 90):.2f} "
              f"| {np.mean(spread > 0.5):.0%} |")
    length, spread = np.concatenate(lengths), np.concatenate(spreads)
    print(f"| all | {len(length)} | {_rms(length):.2f} / {np.median(length):.2f} / {np.percentile(length, 90):.2f} | "
          f"| {np.median(spread):.2f} / {np.percentile(spread, 90):.2f} | {np.mean(spread > 0.5):.0%} |")


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values ** 2)))


if __name__ == "__main__":
    main()
