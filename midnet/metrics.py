"""Image-quality metrics (PSNR, SSIM) for SEM deblurring.

Two APIs that agree to within floating-point noise:

- NumPy (``psnr``, ``ssim``): thin wrappers over scikit-image, for reporting.
- Torch (``psnr_torch``, ``ssim_torch``): batched NCHW, for validation during training.

SSIM follows Wang et al. 2004 as papers report it: Gaussian window (sigma 1.5),
K1 = 0.01, K2 = 0.03, population covariance.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from .errors import MidnetError

# SSIM constants; the Gaussian window matches skimage's gaussian_weights=True path.
_SSIM_SIGMA = 1.5
_SSIM_TRUNCATE = 3.5  # skimage's value; gives radius int(3.5 * 1.5 + 0.5) = 5, an 11x11 window
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03


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


def crop_infobar(image: np.ndarray, rows: int) -> np.ndarray:
    """Drop the bottom ``rows`` rows (the SEM info bar) of an (H, W) or (H, W, C) image.

    ``rows`` = 0 returns the image unchanged; ``rows`` must be smaller than the height.
    """
    if rows < 0:
        raise MidnetError(f"infobar_rows must be >= 0, got {rows}")
    if rows == 0:
        return image
    height = image.shape[0]
    if rows >= height:
        raise MidnetError(f"infobar_rows={rows} leaves no image rows (height is {height})")
    return image[: height - rows]


def _prepare(
    reference: np.ndarray, image: np.ndarray, data_range: float | None, infobar_rows: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate shapes, crop the info bar, and convert both images to float64."""
    reference, image = np.asarray(reference), np.asarray(image)
    if reference.shape != image.shape:
        raise MidnetError(f"image shapes differ: reference {reference.shape} vs image {image.shape}")
    if reference.ndim not in (2, 3):
        raise MidnetError(f"expected an (H, W) or (H, W, C) image, got shape {reference.shape}")
    # The range comes from the original dtype, before the float64 conversion hides it.
    rng = data_range_for(reference, data_range)
    ref = crop_infobar(reference, infobar_rows).astype(np.float64)
    img = crop_infobar(image, infobar_rows).astype(np.float64)
    return ref, img, rng


def psnr(
    reference: np.ndarray,
    image: np.ndarray,
    data_range: float | None = None,
    infobar_rows: int = 0,
) -> float:
    """PSNR in dB, 10 * log10(MAX^2 / MSE), computed in float64; inf for identical images."""
    ref, img, rng = _prepare(reference, image, data_range, infobar_rows)
    # skimage would divide by zero (with a RuntimeWarning); identical means infinite PSNR.
    if mean_squared_error(ref, img) == 0.0:
        return float("inf")
    return float(peak_signal_noise_ratio(ref, img, data_range=rng))


def ssim(
    reference: np.ndarray,
    image: np.ndarray,
    data_range: float | None = None,
    infobar_rows: int = 0,
) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian sigma 1.5, population covariance), in float64.

    3-D images are channel-last; the result is the mean over channels.
    """
    ref, img, rng = _prepare(reference, image, data_range, infobar_rows)
    return float(
        structural_similarity(
            ref,
            img,
            gaussian_weights=True,
            sigma=_SSIM_SIGMA,
            use_sample_covariance=False,
            data_range=rng,
            channel_axis=-1 if ref.ndim == 3 else None,
        )
    )


def _check_nchw(reference: torch.Tensor, image: torch.Tensor) -> None:
    """Raise MidnetError unless both tensors are NCHW with the same shape."""
    if reference.shape != image.shape:
        raise MidnetError(
            f"tensor shapes differ: reference {tuple(reference.shape)} vs image {tuple(image.shape)}"
        )
    if reference.dim() != 4:
        raise MidnetError(f"expected an NCHW tensor, got shape {tuple(reference.shape)}")


def psnr_torch(reference: torch.Tensor, image: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB of NCHW tensors, shape (N,), computed in float64; inf if identical."""
    _check_nchw(reference, image)
    diff = reference.double() - image.double()
    mse = diff.pow(2).flatten(1).mean(dim=1)
    # log10(R^2 / 0) = inf in torch, which is the intended value for identical images.
    return 10.0 * torch.log10(data_range**2 / mse)


def _gaussian_window(device: torch.device) -> torch.Tensor:
    """The normalised 1-D Gaussian that scipy.ndimage.gaussian_filter uses inside skimage SSIM."""
    radius = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    window = torch.exp(-0.5 * (x / _SSIM_SIGMA) ** 2)
    return window / window.sum()


def ssim_torch(reference: torch.Tensor, image: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image mean SSIM of NCHW tensors, shape (N,), averaged over channels; float64 inside.

    Matches ``ssim`` / skimage exactly: skimage filters with reflect padding and then crops
    (win_size - 1) // 2 pixels from every border, so the averaged region equals a 'valid'
    (unpadded) convolution.
    """
    _check_nchw(reference, image)
    x, y = reference.double(), image.double()
    channels = x.shape[1]
    window = _gaussian_window(x.device)
    size = window.numel()
    if min(x.shape[2], x.shape[3]) < size:
        raise MidnetError(f"SSIM needs images of at least {size}x{size}, got {tuple(x.shape[2:])}")

    # Filter all five moment maps in one grouped, separable convolution.
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    groups = maps.shape[1]
    w_rows = window.view(1, 1, size, 1).expand(groups, 1, size, 1)
    w_cols = window.view(1, 1, 1, size).expand(groups, 1, 1, size)
    filtered = F.conv2d(F.conv2d(maps, w_rows, groups=groups), w_cols, groups=groups)
    ux, uy, uxx, uyy, uxy = filtered.split(channels, dim=1)

    # Population (biased) covariance, as in use_sample_covariance=False.
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # Every channel has the same valid area, so the mean over C,H,W equals the mean of channel means.
    return s.flatten(1).mean(dim=1)


__all__ = [
    "crop_infobar",
    "data_range_for",
    "psnr",
    "psnr_torch",
    "ssim",
    "ssim_torch",
]
