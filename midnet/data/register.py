"""Registration of a pair's two exposures: the blurry frame moved onto the sharp one.

Refocusing an SEM moves the image and stretches it a little, so the exposures of a pair
do not line up pixel for pixel. :func:`measure_shift` finds the whole-frame shift,
:func:`align_to` crops both to their overlap at that shift, :func:`measure_transform`
fits an affine map to local matches and :func:`register` resamples the blurry frame with it.
"""

from __future__ import annotations

import numpy as np
from skimage.measure import ransac
from skimage.registration import phase_cross_correlation
from skimage.transform import AffineTransform, warp

from ..errors import MidnetError

MAX_SHIFT_PX = 1.0  # pairs further apart than this are aligned (or flagged, when alignment is off)


def measure_shift(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """Whole-pixel (dy, dx) that moves ``moving`` onto ``reference``.

    Masked normalised cross-correlation (Padfield 2012, scikit-image): the whitened
    phase correlation locks onto the noise of a blurry frame and reports ~0 for pairs
    10+ px apart, and the unnormalised one is pulled towards 0 by the frame border.
    On the shared SEM pairs this gives the shift of best PSNR on every pair.
    """
    mask = np.ones(reference.shape, dtype=bool)
    shift = phase_cross_correlation(reference, moving, reference_mask=mask, moving_mask=mask)
    shift = shift[0] if isinstance(shift, tuple) else shift
    return float(shift[0]), float(shift[1])


def align_to(reference: np.ndarray, moving: np.ndarray, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Both images cropped to their overlap once ``moving`` is moved by the rounded ``shift``.

    An integer shift: the ground truth is never resampled (interpolation would blur it).
    """
    dy, dx = (int(round(v)) for v in shift)
    h, w = reference.shape[:2]
    y0, y1, x0, x1 = max(dy, 0), h + min(dy, 0), max(dx, 0), w + min(dx, 0)
    if y1 - y0 < h // 2 or x1 - x0 < w // 2:
        raise MidnetError(f"images are shifted by ({dy}, {dx}) px, more than half the frame: not the same field of view")
    return reference[y0:y1, x0:x1], moving[y0 - dy : y1 - dy, x0 - dx : x1 - dx]


def measure_transform(sharp: np.ndarray, blur: np.ndarray, patch: int = 192, step: int = 96,
                      shift: tuple[float, float] | None = None) -> AffineTransform:
    """Affine map from ``sharp``'s pixel (x, y) to ``blur``'s, from local shifts on a grid.

    Refocusing an SEM does more than move the image: on the shared pairs the sharp frame
    is also ~2% narrower and slightly sheared, so after the best global shift the local
    offsets still change by over 10 px across the frame. Each ``patch`` square of a grid is
    matched by masked normalised cross-correlation (see :func:`measure_shift`) after the
    global shift; RANSAC fits an affine map to the matches, ignoring flat or ambiguous patches.
    Frames too small for a dozen matches get the global shift alone. ``shift`` is the
    global (dy, dx) that moves sharp onto blur when already measured (``Pair.shift``).
    """
    shift = shift if shift is not None else measure_shift(blur, sharp)
    gy, gx = (-int(round(v)) for v in shift)  # blur moved by g lands on sharp
    h, w = sharp.shape
    if min(h, w) < 3 * patch:  # small frames: smaller patches, still a grid of a dozen or more
        patch = max(64, min(h, w) // 3)
        step = patch // 2
    src, dst = [], []
    for y in range(0, h - patch + 1, step):
        for x in range(0, w - patch + 1, step):
            by, bx = y - gy, x - gx
            if by < 0 or bx < 0 or by + patch > h or bx + patch > w:
                continue
            a, b = sharp[y : y + patch, x : x + patch], blur[by : by + patch, bx : bx + patch]
            if a.std() < 1e-3 or b.std() < 1e-3:
                continue  # a flat patch has nothing to lock onto
            ry, rx = measure_shift(a, b)
            if max(abs(ry), abs(rx)) > patch / 8:
                continue
            src.append((x + patch / 2, y + patch / 2))
            dst.append((bx + patch / 2 - rx, by + patch / 2 - ry))
    translation = AffineTransform(translation=(-gx, -gy))
    if len(src) < 12:
        return translation  # too few matches for an affine fit (a small frame): the global shift alone
    model, inliers = ransac((np.array(src), np.array(dst)), AffineTransform, min_samples=3, residual_threshold=2.0,
                            max_trials=500, rng=0)
    if model is None or inliers.sum() < 12 or not _plausible(model):
        return translation
    return model


def _plausible(t: AffineTransform) -> bool:
    """Two exposures of one field of view: scales within 10%, rotation and shear within 5 degrees."""
    scale = np.asarray(t.scale, dtype=float)
    return bool(np.all(np.abs(scale - 1) < 0.1) and abs(t.rotation) < np.radians(5) and abs(t.shear) < np.radians(5))


def register(sharp: np.ndarray, blur: np.ndarray, transform: AffineTransform, order: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(blur resampled onto sharp's pixel grid, sharp), both cropped to the rectangle the blur covers.

    The sharp target is never resampled, and the blurry frame is resampled by nearest
    neighbour: every pixel stays a raw pixel (within half a pixel of its place), so a
    network trains on the noise it will meet in use. Interpolation would denoise it:
    bicubic resampling cuts the shared frames' noise by 40-55% and raises the input's
    SSIM by up to 0.09 without any restoration (``order=3``, for that comparison only).
    """
    h, w = sharp.shape
    rows, cols = np.mgrid[0:h, 0:w]
    mapped = transform(np.column_stack([cols.ravel(), rows.ravel()]).astype(np.float64))
    eps = 1e-6  # an identity map keeps the whole frame
    valid = ((mapped[:, 0] >= -eps) & (mapped[:, 0] <= blur.shape[1] - 1 + eps)
             & (mapped[:, 1] >= -eps) & (mapped[:, 1] <= blur.shape[0] - 1 + eps)).reshape(h, w)
    y0, y1, x0, x1 = _inner_rectangle(valid)
    if y1 - y0 < h // 2 or x1 - x0 < w // 2:
        raise MidnetError("the two exposures share less than half the frame: not the same field of view")
    moved = warp(blur, transform, output_shape=(h, w), order=order, mode="edge", preserve_range=True)
    moved = np.clip(moved[y0:y1, x0:x1], 0.0, 1.0).astype(np.float32)
    return moved, sharp[y0:y1, x0:x1]


def _inner_rectangle(valid: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of an all-True rectangle, shrinking whichever border has most False."""
    y0, y1, x0, x1 = 0, valid.shape[0], 0, valid.shape[1]
    while y1 > y0 and x1 > x0 and not valid[y0:y1, x0:x1].all():
        box = ~valid[y0:y1, x0:x1]
        worst = int(np.argmax([box[0].sum(), box[-1].sum(), box[:, 0].sum(), box[:, -1].sum()]))
        y0, y1, x0, x1 = (y0 + (worst == 0), y1 - (worst == 1), x0 + (worst == 2), x1 - (worst == 3))
    return y0, y1, x0, x1
