"""How wide a Gaussian blur a micrograph carries, read off its power spectrum, and how far to trust it.

Method (spectral falloff). A defocused micrograph is the specimen convolved with a wider
probe. Its radially averaged power spectrum is modelled as

    P(f) = A * f**-alpha * exp(-(2 pi sigma f)**2) + N

a power-law specimen (alpha free), a Gaussian blur of width ``sigma`` pixels and a white
noise floor ``N``, fitted in the log domain to Welch's average of half-overlapping Hann
tiles of 256 px (a frame blurred by more than 16 px is fitted on a 2x2-binned copy, and
so on). ``raw_px`` is that sigma. ``blur_px``, the equivalent Gaussian blur, is
exp(C0 + C1 log(raw_px) - C2 log_snr) with :data:`CALIBRATION` fitted on Gaussian blur
of the seven shared sharp exposures at known widths and noise levels
(``scripts/focus_report.py``; its accuracy on micrographs it never saw is in
docs/results.md section 8). It is the *total* blur, so an in-focus exposure scores a
pixel or two, never zero.

``confidence`` (0..1) is the product of three factors: evidence, 0 when at most 50 and 1
when at least 500 independent Fourier modes of the frame carry specimen power above twice
the noise floor (log scale between); the fit's precision, 1 / (1 + (se(sigma)/sigma/0.25)**2);
and plausibility, 0 when the fitted specimen exponent alpha >= 6 (such a steep spectrum is
smooth shading leaking through the window, not texture). A flat, smooth specimen gets a
low confidence however blurred it looks.

This is core: ``midnet deblur``'s domain check (midnet/quality/domain.py) and the focus score of
``midnet score`` (midnet/quality/focus.py, its verdicts and archive report) both read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import MidnetError

TILE = 256  # Welch tile side: frequency resolution 1/256 cycles/px
MIN_TILE = 64  # smaller images carry too few frequencies to fit
N_BINS = 40  # log-spaced radial bins from 2/tile to 0.5 cycles/px
MAX_BIN = 8  # a blur over tile/16 px is fitted on a 2x2-binned copy, and so on up to 8x8
MODES_NONE, MODES_FULL = 50.0, 500.0  # Fourier modes above the noise: no evidence at 50, full evidence at 500

# blur_px = exp(C0 + C1 * log(raw_px) + C2 * log(noise/signal)); refitted by scripts/focus_report.py
CALIBRATION = (-0.577, 1.048, -0.031)


@dataclass
class SpectralFit:
    """The fitted spectrum model, in the pixels of the image it was measured on."""

    sigma: float  # Gaussian blur, px
    alpha: float  # specimen power-law exponent
    log_amp: float
    log_noise: float  # log of the white-noise variance (gray in 0..1)
    sigma_se: float  # standard error of sigma from the fit
    signal_fraction: float  # fraction of the band 2/tile..0.25 where specimen power > noise
    modes: float  # independent Fourier modes of the frame whose specimen power is above twice the noise
    log_snr: float  # log(structure variance / noise variance) over the band
    bin: int = 1  # the image was binned this many times before fitting


def _tile_for(shape: tuple[int, int]) -> int:
    side = min(shape)
    if side < MIN_TILE:
        raise MidnetError(f"image of {shape[0]}x{shape[1]} px is too small to score (at least {MIN_TILE} px a side)")
    return min(TILE, 1 << int(math.log2(side)))


def _starts(length: int, tile: int) -> np.ndarray:
    n = max(1, math.ceil((length - tile) / (tile // 2)) + 1)
    return np.linspace(0, length - tile, n).round().astype(int)


def power_spectrum(gray: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radially averaged power spectrum (Welch: Hann tiles, half overlap).

    Returns each bin's mean frequency, mean power, and how many independent Fourier modes of
    the whole frame it holds (its samples in one tile times the frame's area in tiles).
    """
    from scipy import fft

    ys, xs = _starts(gray.shape[0], tile), _starts(gray.shape[1], tile)
    tiles = np.stack([gray[y : y + tile, x : x + tile] for y in ys for x in xs]).astype(np.float32)
    tiles -= tiles.mean(axis=(1, 2), keepdims=True)
    win = np.hanning(tile).astype(np.float32)
    tiles *= win[:, None] * win[None, :]
    power = (np.abs(fft.rfft2(tiles, workers=-1)) ** 2).mean(axis=0, dtype=np.float64)
    power /= float((win**2).sum()) ** 2
    f = np.hypot(np.fft.fftfreq(tile)[:, None], np.fft.rfftfreq(tile)[None, :]).ravel()
    edges = np.geomspace(2.0 / tile, 0.5, N_BINS + 1)
    idx = np.digitize(f, edges)
    keep = (idx >= 1) & (idx <= N_BINS)
    count = np.bincount(idx[keep], minlength=N_BINS + 1)
    fsum = np.bincount(idx[keep], weights=f[keep], minlength=N_BINS + 1)
    psum = np.bincount(idx[keep], weights=power.ravel()[keep], minlength=N_BINS + 1)
    ok = count >= 3
    modes = count[ok] * (gray.shape[0] * gray.shape[1] / tile**2)
    return fsum[ok] / count[ok], psum[ok] / count[ok], modes


def _model(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    log_amp, alpha, sigma, log_noise = q
    return np.logaddexp(log_amp - alpha * np.log(f) - (2 * np.pi * sigma * f) ** 2, log_noise)


def fit_spectrum(f: np.ndarray, power: np.ndarray, modes: np.ndarray, tile: int) -> SpectralFit:
    """Least-squares fit of the blur model to log power; several starting blurs, the best kept."""
    from scipy.optimize import least_squares

    logp = np.log(np.maximum(power, 1e-30))
    best = None
    for s0 in (1.0, 5.0):  # the fit is well conditioned: one start gives the same sigma on the shared frames
        q0 = [logp[0] + 2 * np.log(f[0]), 2.0, min(s0, tile / 8), float(np.median(logp[-5:]))]
        r = least_squares(lambda q: _model(q, f) - logp, q0,
                          bounds=([-80, 0.0, 0.0, -80], [80, 8.0, tile / 4, 10]))
        if best is None or r.cost < best.cost:
            best = r
    q = best.x
    dof = max(len(f) - 4, 1)
    try:
        cov = np.linalg.pinv(best.jac.T @ best.jac) * (2 * best.cost / dof)
        se = float(np.sqrt(max(cov[2, 2], 0.0)))
    except np.linalg.LinAlgError:  # pragma: no cover - degenerate Jacobian
        se = float("inf")
    signal = np.exp(q[0] - q[1] * np.log(f) - (2 * np.pi * q[2] * f) ** 2)
    noise = math.exp(q[3])
    band = f <= 0.25
    strong = (power > 2 * noise) & (signal > noise)
    above = strong & band
    struct = float(np.clip(power[band] - noise, 0, None).mean())
    return SpectralFit(
        sigma=float(q[2]), alpha=float(q[1]), log_amp=float(q[0]), log_noise=float(q[3]), sigma_se=se,
        signal_fraction=float(above.sum() / max(band.sum(), 1)), modes=float(modes[strong].sum()),
        log_snr=float(np.log(max(struct, 1e-30) / noise)),
    )


def bin_down(gray: np.ndarray, b: int) -> np.ndarray:
    """The mean of every b x b block (the frame cropped to whole blocks)."""
    h, w = (gray.shape[0] // b) * b, (gray.shape[1] // b) * b
    return gray[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3))


def spectral_sigma(gray: np.ndarray) -> SpectralFit:
    """The spectral fit in full-resolution pixels; large blurs are fitted on a binned copy."""
    b, noise = 1, None
    while True:
        g = bin_down(gray, b) if b > 1 else gray
        tile = _tile_for(g.shape)
        f, power, modes = power_spectrum(g, tile)
        fit = fit_spectrum(f, power, modes, tile)
        noise = fit.log_noise if noise is None else noise  # the noise of the full-resolution image
        nxt = 2 * b
        if fit.sigma <= tile / 16 or nxt > MAX_BIN or min(gray.shape) // nxt < MIN_TILE:
            break
        b = nxt
    if b > 1:  # box of b px then subsampling: sigma_b**2 * b**2 = sigma**2 + (b**2 - 1) / 12
        var = (fit.sigma * b) ** 2 - (b * b - 1) / 12.0
        fit.sigma = math.sqrt(max(var, 0.0))
        fit.sigma_se *= b
        fit.bin = b
    fit.log_noise = noise
    return fit


def calibrated_px(fit: SpectralFit, calibration: tuple[float, ...] = CALIBRATION) -> float:
    """Equivalent Gaussian blur (px) from the raw fit: a log-linear map of raw sigma and noise/signal."""
    c0, c1, c2 = calibration
    raw = max(fit.sigma, 0.3)  # below a third of a pixel the fit cannot resolve blur
    return float(math.exp(c0 + c1 * math.log(raw) + c2 * (-fit.log_snr)))


def confidence_of(fit: SpectralFit) -> float:
    """Structure evidence x fit precision x plausibility of the specimen's spectrum (module docstring)."""
    evidence = float(np.clip(math.log10(max(fit.modes, 1.0) / MODES_NONE) / math.log10(MODES_FULL / MODES_NONE), 0, 1))
    rel_se = fit.sigma_se / max(fit.sigma, 0.3)
    precision = 1.0 / (1.0 + (rel_se / 0.25) ** 2) if math.isfinite(rel_se) else 0.0
    plausible = float(np.clip(6.0 - fit.alpha, 0.0, 1.0))  # alpha >= 6: leakage of smooth shading, no texture
    return float(np.clip(evidence * precision * plausible, 0.0, 1.0))


@dataclass
class BlurEstimate:
    """A frame's equivalent Gaussian blur (px), how far to trust it, and the fit it came from."""

    blur_px: float  # NaN for a constant frame
    confidence: float
    fit: SpectralFit | None  # None for a constant frame: nothing to fit


def estimate(gray: np.ndarray) -> BlurEstimate:
    """The blur of one gray frame (float; 0..1, or any range, which is then mapped onto 0..1).

    Values outside 0..1 are rescaled to the frame's own range, so the noise of the fit is a
    fraction of the frame's span whatever the file stored.
    """
    if gray.size:
        lo, hi = float(gray.min()), float(gray.max())
        if lo < 0 or hi > 1:
            gray = (gray - np.float32(lo)) / np.float32((hi - lo) or 1.0)
    if gray.size == 0 or float(gray.std()) < 1e-6:  # a constant frame: nothing to judge
        return BlurEstimate(blur_px=float("nan"), confidence=0.0, fit=None)
    fit = spectral_sigma(gray)
    return BlurEstimate(blur_px=calibrated_px(fit), confidence=confidence_of(fit), fit=fit)
