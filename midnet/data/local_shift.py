"""What the frame's registration leaves: a registered pair's sub-pixel misalignment, patch by patch.

The affine map of :mod:`midnet.data.register` is one map for the whole frame, but an SEM
frame is scanned line by line, and where each line starts the beam has not settled: on the
shared pairs the 192 px crops are registered to ~0.15 px over most of the frame, but within
~200 px of its left edge they are 2-8 px apart (``scripts/residual_shift_report.py``). A
network that cannot see which way a target is off learns to hedge by blurring.

:func:`measure_local_shifts` measures that residual on a grid of patches of the pair alone
(plain cross-correlation upsampled 20x, as the report does), minus the frame's median: a
shift the whole frame shares is also what an asymmetric blur does (an SEM's detector lags
along the scan line), and the network should keep learning it. :func:`shifted_target` moves
a target crop by the local value with a Fourier shift: sub-pixel, and unlike interpolation
it keeps every spatial frequency of the sharp exposure, so the target is not smoothed. One
shift cannot register a crop across which the misalignment changes (the left edge), so
:meth:`LocalShifts.spread` tells the sampler to draw another crop there. Training uses it
with ``data.target_shift: local``; evaluation never moves a target, but its diagnostic
``midnet eval --region registered`` scores only where :func:`registered_mask` says the pair
lines up.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import fourier_shift, generic_filter, map_coordinates
from skimage.registration import phase_cross_correlation

from ..choices import REGISTERED_PATCH, REGISTERED_PX

FLAT_STD = 0.02  # a patch with less contrast than this (of full scale) has nothing to lock onto
MAX_LOCAL_SHIFT_PX = 12.0  # larger values are a failed match (the shared pairs' left edges reach 8 px)


@dataclass(frozen=True)
class LocalShifts:
    """(dy, dx) that moves the sharp patch onto the blurry one, beyond the frame's median, on a grid."""

    centres_y: np.ndarray  # (rows,) patch centres, pixels
    centres_x: np.ndarray  # (cols,)
    shifts: np.ndarray  # (rows, cols, 2)

    def at(self, y: float, x: float) -> tuple[float, float]:
        """The bilinear value at pixel (y, x), held constant beyond the outermost patch centres."""
        # fractional grid indices, clamped to the grid by np.interp; map_coordinates interpolates
        at = [[np.interp(y, self.centres_y, np.arange(len(self.centres_y)))],
              [np.interp(x, self.centres_x, np.arange(len(self.centres_x)))]]
        return tuple(float(map_coordinates(self.shifts[..., k], at, order=1, mode="nearest")[0]) for k in (0, 1))

    def spread(self, top: float, left: float, size: float) -> float:
        """How far (px) the misalignment at the square's corners is from that at its centre: 0 where one shift fits."""
        centre = np.array(self.at(top + size / 2, left + size / 2))
        corners = [self.at(top + dy, left + dx) for dy in (0, size) for dx in (0, size)]
        return float(max(np.hypot(*(np.array(c) - centre)) for c in corners))


def patch_shifts(
    blur: np.ndarray, sharp: np.ndarray, patch: int, step: int, flush: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tops, lefts, grid): each patch's (dy, dx) moving sharp onto blur; NaN where the patch is flat.

    ``flush`` adds a last row and column of patches against the bottom and right edges,
    so the patches cover the whole frame (they then overlap the one before).
    """
    h, w = blur.shape
    patch = min(patch, h, w)
    step = max(1, min(step, patch))
    ys, xs = np.arange(0, h - patch + 1, step), np.arange(0, w - patch + 1, step)
    if flush:
        ys, xs = np.union1d(ys, [h - patch]), np.union1d(xs, [w - patch])
    grid = np.full((len(ys), len(xs), 2), np.nan)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            b, s = blur[y : y + patch, x : x + patch], sharp[y : y + patch, x : x + patch]
            if s.std() >= FLAT_STD and b.std() >= FLAT_STD / 4:
                grid[i, j] = phase_cross_correlation(b, s, upsample_factor=20, normalization=None)[0]
    return ys, xs, grid


def measure_local_shifts(blur: np.ndarray, sharp: np.ndarray, patch: int = 96, step: int = 48) -> LocalShifts:
    """Local misalignment of a registered pair: one match per patch, robust to flat patches and outliers."""
    ys, xs, grid = patch_shifts(blur, sharp, patch, step)
    centres_y, centres_x = ys + min(patch, *blur.shape) / 2, xs + min(patch, *blur.shape) / 2
    if np.isnan(grid).all():
        return LocalShifts(centres_y, centres_x, np.zeros_like(grid))
    grid -= np.nanmedian(grid.reshape(-1, 2), axis=0)  # what the whole frame shares stays in the target
    grid[np.abs(grid).max(axis=-1) > MAX_LOCAL_SHIFT_PX] = np.nan
    with warnings.catch_warnings():  # a neighbourhood of flat patches only is NaN, and stays 0 below
        warnings.simplefilter("ignore", RuntimeWarning)
        # the median of each 3x3 neighbourhood: one bad match neither moves its crop nor survives as a spike
        smooth = np.stack([generic_filter(grid[..., k], np.nanmedian, size=3, mode="nearest") for k in (0, 1)], -1)
    return LocalShifts(centres_y, centres_x, np.nan_to_num(smooth, nan=0.0))


def registered_mask(
    blur: np.ndarray, sharp: np.ndarray, patch: int = REGISTERED_PATCH, limit: float = REGISTERED_PX
) -> np.ndarray:
    """True where the pair lines up: covered only by ``patch`` px squares measured at most ``limit`` px off.

    The squares tile the frame, the last row and column against its edges. A pixel that
    any unregistered or unmeasurable (flat) square covers is False: nothing there says
    the pair lines up. Measured on the pair alone, so it is the same region for every
    method scored on it.
    """
    ys, xs, grid = patch_shifts(blur, sharp, patch, patch, flush=True)
    size = min(patch, *blur.shape)
    with np.errstate(invalid="ignore"):  # NaN (flat) compares False
        good = np.hypot(grid[..., 0], grid[..., 1]) <= limit
    mask = np.ones(blur.shape, dtype=bool)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            if not good[i, j]:
                mask[y : y + size, x : x + size] = False
    return mask


def shifted_target(window: np.ndarray, shift: tuple[float, float], margin: int) -> np.ndarray:
    """``window`` moved by ``shift`` (Fourier, sub-pixel), less ``margin`` pixels on every side.

    The window is mirrored before the transform, so its periodic extension has no jump at
    the wrap (a jump would ring into the crop at a sub-pixel shift); the shift must stay
    below the margin, which the mirrored wrap-around then never reaches.
    """
    if max(abs(v) for v in shift) >= margin:
        raise ValueError(f"shift {shift} does not fit a {margin}px margin")
    h, w = window.shape
    mirrored = np.pad(window.astype(np.float64), ((0, h), (0, w)), mode="symmetric")
    moved = np.fft.ifft2(fourier_shift(np.fft.fft2(mirrored), shift)).real[:h, :w]
    return np.clip(moved[margin:-margin, margin:-margin], 0.0, 1.0).astype(np.float32)
