"""Image-quality metrics (PSNR, SSIM) for SEM deblurring: thin wrappers over scikit-image.

SSIM follows Wang et al. 2004 as papers report it: Gaussian window (sigma 1.5),
K1 = 0.01, K2 = 0.03, population covariance.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from ..errors import MidnetError

_SSIM_SIGMA = 1.5  # the Gaussian window of skimage's gaussian_weights=True path
_SSIM_TRUNCATE = 3.5  # skimage's default truncation of that window


def data_range_for(image: np.ndarray, data_range: float | None = None) -> float:
    """Return the dynamic range (max - min possible value) to use for ``image``.

    An explicit ``data_range`` always wins. Integer images use their dtype's full range
    (uint8 -> 255, uint16 -> 65535). Float images are assumed to lie in [0, 1], so they
    default to 1.0; pass ``data_range`` for anything else.
    """
    if data_range is not None:
        if data_range <= 0:
            raise MidnetError(f"data_range must be positive, got {data_range}")
        return float(data_range)
    dtype = np.asarray(image).dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.max) - float(info.min)
    if np.issubdtype(dtype, np.floating):
        return 1.0
    raise MidnetError(f"cannot infer a data range for dtype {dtype}; pass data_range explicitly")


def _prepare(reference: np.ndarray, image: np.ndarray, data_range: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate shapes and convert both images to float64."""
    reference, image = np.asarray(reference), np.asarray(image)
    if reference.shape != image.shape:
        raise MidnetError(f"image shapes differ: reference {reference.shape} vs image {image.shape}")
    if reference.ndim not in (2, 3):
        raise MidnetError(f"expected an (H, W) or (H, W, C) image, got shape {reference.shape}")
    # The range comes from the original dtype, before the float64 conversion hides it.
    rng = data_range_for(reference, data_range)
    return reference.astype(np.float64), image.astype(np.float64), rng


def _check_mask(mask: np.ndarray | None, reference: np.ndarray) -> np.ndarray | None:
    """A boolean (H, W) mask that selects at least one pixel, or None for the whole image."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != reference.shape[:2]:
        raise MidnetError(f"mask shape {mask.shape} does not match the image's {reference.shape[:2]}")
    if not mask.any():
        raise MidnetError("the mask selects no pixel: nothing to score")
    return mask


def psnr(reference: np.ndarray, image: np.ndarray, data_range: float | None = None,
         mask: np.ndarray | None = None) -> float:
    """PSNR in dB, 10 * log10(MAX^2 / MSE), computed in float64; inf for identical images.

    ``mask`` (H, W booleans) restricts the mean squared error to the pixels it selects.
    """
    ref, img, rng = _prepare(reference, image, data_range)
    mask = _check_mask(mask, ref)
    if mask is not None:
        ref, img = ref[mask], img[mask]
    # skimage would divide by zero (with a RuntimeWarning); identical means infinite PSNR.
    if mean_squared_error(ref, img) == 0.0:
        return float("inf")
    return float(peak_signal_noise_ratio(ref, img, data_range=rng))


def ssim(reference: np.ndarray, image: np.ndarray, data_range: float | None = None,
         mask: np.ndarray | None = None) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian sigma 1.5, population covariance), in float64.

    3-D images are channel-last; the result is the mean over channels. ``mask`` (H, W
    booleans) averages the SSIM map over the pixels it selects, less the border skimage
    leaves out of its own mean, so an all-True mask gives the unmasked value.
    """
    ref, img, rng = _prepare(reference, image, data_range)
    mask = _check_mask(mask, ref)
    mean, full = structural_similarity(
        ref,
        img,
        gaussian_weights=True,
        sigma=_SSIM_SIGMA,
        use_sample_covariance=False,
        data_range=rng,
        channel_axis=-1 if ref.ndim == 3 else None,
        full=True,
    )
    if mask is None:
        return float(mean)
    pad = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)  # skimage's window radius, the strip its own mean leaves out
    inner = np.zeros_like(mask)
    inner[pad:-pad, pad:-pad] = True
    selected = mask & inner
    if not selected.any():
        raise MidnetError("the mask selects only the image's border: nothing to score")
    return float(full[selected].mean())


__all__ = ["data_range_for", "psnr", "ssim"]
