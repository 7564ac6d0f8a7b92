"""Synthetic blur/sharp pairs: a training micrograph's in-focus exposure, defocused on purpose.

The seven real pairs show one blur width (a focus score of 4.7-7.2 px). A network trained on
them alone sharpens whatever it gets, so an in-focus frame comes back over-sharpened. The
synthetic pairs teach it every width from none upwards, and that a sharp frame is to be left
alone: the input is the sharp exposure blurred by a point-spread function and given noise, the
target is the sharp exposure itself (for width 0, the input less the added noise).

The degradation was fitted to the real blurry exposures (``scripts/noise_report.py`` prints the
measures):

- **PSF.** Three shapes a defocused SEM probe takes: a Gaussian, a defocus disc (uniform
  within a radius) and an astigmatic (elliptical) Gaussian at any angle. All three are
  parametrised by the PSF's standard deviation along its wider axis, ``sigma``, so one width
  means the same spread whatever the shape (a disc of radius about 2 sigma).
- **Noise.** The real blurry exposures carry 5.6-7.2 grey levels of noise (8-bit full scale;
  Immerkaer's Laplacian estimator), white: the lag-1 correlation of the residual is 0.02 along
  the scan line and -0.06 across it, so the scan does not correlate it here. It grows with
  the signal faster than shot noise would: its standard deviation scales as the local mean to
  the power 0.75 (from 6.3 to 8.3 grey levels between mean levels 125 and 182). The synthetic
  noise has that shape, its level drawn per crop.
- **Quantisation.** The input is rounded to the file's grey levels, as a real file is.

A share of the synthetic crops hold no micrograph at all but a smooth field (one grey level, a
ramp, a gentle curve), noisy or not, with itself as the target: a network that has only seen
texture invents texture on a blank substrate or a shading gradient (issue 33, fault 12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import brentq
from scipy.signal import fftconvolve

PSF_SHAPES = ("gaussian", "disc", "astigmatic")
NOISE_EXPONENT = 0.75  # noise sd ~ mean ** 0.75 on the real blurry exposures (module docstring)
KERNEL_REACH = 3.5  # a kernel reaches this many sigmas: beyond it a Gaussian's weight is below 1e-3 of its peak


@dataclass(frozen=True)
class Degradation:
    """One draw of the degradation: PSF shape and width, noise level, and what they do to a crop."""

    shape: str  # one of PSF_SHAPES
    sigma: float  # the PSF's standard deviation along its wider axis, pixels (0: no blur)
    minor: float = 1.0  # astigmatic: the narrow axis's sigma as a share of sigma
    angle: float = 0.0  # astigmatic: the wide axis's angle, radians
    noise: float = 0.0  # noise sd at the frame's mean level, on the file's [0, 1] scale

    @property
    def reach(self) -> int:
        """Pixels a blurred pixel draws from on each side: the margin a crop needs around it."""
        return int(np.ceil(KERNEL_REACH * self.sigma * (1.2 if self.shape == "disc" else 1.0))) + 1

    def kernel(self) -> np.ndarray:
        """The normalised PSF (odd side); [[1]] for width 0."""
        if self.sigma <= 0:
            return np.ones((1, 1))
        r = self.reach
        y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
        if self.shape == "disc":
            k = _disc_of_spread(x, y, self.sigma)
        elif self.shape == "astigmatic":
            c, s = np.cos(self.angle), np.sin(self.angle)
            u, v = c * x + s * y, -s * x + c * y
            k = np.exp(-0.5 * ((u / self.sigma) ** 2 + (v / (self.sigma * self.minor)) ** 2))
        else:
            k = np.exp(-0.5 * (x * x + y * y) / self.sigma**2)
        return k / k.sum()

    def blur(self, window: np.ndarray) -> np.ndarray:
        """``window`` through the PSF; the outer ``reach`` pixels are unreliable (cut them off)."""
        if self.sigma <= 0:
            return window.astype(np.float32)
        if self.shape == "gaussian":  # separable: exact and cheap
            return gaussian_filter(window.astype(np.float32), self.sigma, truncate=KERNEL_REACH, mode="reflect")
        return fftconvolve(window, self.kernel(), mode="same").astype(np.float32)

    def add_noise(self, clean: np.ndarray, rng: np.random.Generator, full_scale: float) -> np.ndarray:
        """Signal-dependent white noise at ``noise`` (sd at the frame mean), rounded to the file's grey levels."""
        out = clean.astype(np.float32)
        if self.noise > 0:
            mean = max(float(out.mean()), 1e-3)
            level = np.float32(self.noise) * (np.clip(out, 1e-3, None) / np.float32(mean)) ** np.float32(NOISE_EXPONENT)
            out = out + level * rng.standard_normal(out.shape, dtype=np.float32)
        return quantised(out, full_scale)


def quantised(values: np.ndarray, full_scale: float) -> np.ndarray:
    """``values`` on the [0, 1] scale as a file of ``full_scale`` grey levels stores them (float files: clipped only)."""
    out = values.astype(np.float32)
    if full_scale > 1:  # an integer file: its grey levels
        out = np.round(out * np.float32(full_scale)) / np.float32(full_scale)
    return np.clip(out, 0.0, 1.0)


def _disc_of_spread(x: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """A uniform disc whose standard deviation is ``sigma``, its rim antialiased over one pixel.

    A continuous disc of radius 2 sigma has that spread; the pixel grid and the soft rim widen a
    small one (by 9% at sigma 1), so the radius is solved for until the sampled disc's spread is sigma.
    The spread grows steadily from 0 (radius 0.5: the centre pixel alone) to beyond sigma (radius
    2 sigma + 2), so a root-finder bracketing that interval meets any width, however narrow; the
    rescaling it replaced divided by the centre pixel's zero spread below 0.35 px and returned a
    7x7 box instead.
    """
    r2 = x * x + y * y

    def disc(radius: float) -> np.ndarray:
        return np.clip(radius + 0.5 - np.sqrt(r2), 0.0, 1.0)

    def excess(radius: float) -> float:
        k = disc(radius)
        return float(np.sqrt((k * r2).sum() / (2 * k.sum()))) - sigma

    return disc(brentq(excess, 0.5, 2.0 * sigma + 2.0, xtol=1e-9))


@dataclass(frozen=True)
class SyntheticPairs:
    """How many training crops are synthetic and what they are drawn from (config: data.synthetic)."""

    share: float = 0.5  # of the crops in a batch; the rest come from the real pairs
    sigma_max: float = 9.0  # beyond the real pairs' widest blur (a focus score of 7.2 px)
    sharp_share: float = 0.2  # crops left unblurred: the network learns to leave focus alone
    noise_max: float = 9.0 / 255  # noise sd at the frame mean, up to this (the real exposures: 5.6-7.2 / 255)
    clean_share: float = 0.15  # crops given no noise: with no blur, the target is the input itself
    smooth_share: float = 0.0  # crops that are a smooth field, not the micrograph: nothing to restore there


def draw(rng: np.random.Generator, ranges: SyntheticPairs) -> Degradation:
    """One degradation: shape uniform, width 0 with ``sharp_share`` else uniform up to ``sigma_max``, noise uniform."""
    shape = PSF_SHAPES[int(rng.integers(len(PSF_SHAPES)))]
    sigma = 0.0 if rng.random() < ranges.sharp_share else float(rng.uniform(0.3, ranges.sigma_max))
    minor, angle = float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.0, np.pi))
    noise = 0.0 if rng.random() < ranges.clean_share else float(rng.uniform(0.0, ranges.noise_max))
    return Degradation(shape, sigma, minor if shape == "astigmatic" else 1.0, angle, noise)


def degraded_crop(sharp: np.ndarray, top: int, left: int, crop: int, d: Degradation, rng: np.random.Generator,
                  full_scale: float) -> np.ndarray:
    """The blurry input for the sharp crop at (top, left): blurred with the frame around it, then noisy."""
    r = d.reach
    h, w = sharp.shape
    t0, l0, t1, l1 = max(top - r, 0), max(left - r, 0), min(top + crop + r, h), min(left + crop + r, w)
    # the frame's edge mirrored where the crop's margin runs off it, as degrade_frame does for a whole frame
    pads = ((t0 - (top - r), top + crop + r - t1), (l0 - (left - r), left + crop + r - l1))
    window = np.pad(sharp[t0:t1, l0:l1], pads, mode="reflect") if any(sum(p) for p in pads) else sharp[t0:t1, l0:l1]
    blurred = d.blur(window)[r : r + crop, r : r + crop]
    return d.add_noise(blurred, rng, full_scale)


def degrade_frame(sharp: np.ndarray, d: Degradation, rng: np.random.Generator, full_scale: float) -> np.ndarray:
    """A whole frame degraded (the blur sweep's inputs): reflect-padded so its borders are blurred too."""
    r = d.reach
    padded = np.pad(sharp, r, mode="reflect")
    blurred = d.blur(padded)[r:-r, r:-r] if r else d.blur(padded)
    return d.add_noise(blurred, rng, full_scale)


SMOOTH_KINDS = ("flat", "ramp", "curve")


def smooth_field(rng: np.random.Generator, crop: int) -> np.ndarray:
    """A clean smooth field on the [0, 1] scale: one level, a plane, or a plane with a quadratic bow.

    Blurring such a field changes it by at most a constant (a symmetric PSF leaves a plane as it
    is), so the field is both the blurry input's content and its target at every width. It spans
    a random part of the scale and is never clipped: a clipped ramp would hold a crease.
    """
    kind = SMOOTH_KINDS[int(rng.integers(len(SMOOTH_KINDS)))]
    if kind == "flat":
        return np.full((crop, crop), float(rng.uniform(0.0, 1.0)), np.float32)
    y, x = np.mgrid[-1 : 1 : crop * 1j, -1 : 1 : crop * 1j]
    angle = float(rng.uniform(0.0, 2 * np.pi))
    shape = np.cos(angle) * x + np.sin(angle) * y
    if kind == "curve":
        shape = shape + float(rng.uniform(-1.0, 1.0)) * (x * x + y * y)
    amplitude = float(rng.uniform(0.02, 0.8))
    base = float(rng.uniform(0.0, 1.0 - amplitude))
    return (base + amplitude * (shape - shape.min()) / (shape.max() - shape.min())).astype(np.float32)
