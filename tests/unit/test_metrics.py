"""Unit tests for midnet.quality.metrics on small seeded images, checked against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from midnet.errors import MidnetError
from midnet.quality.metrics import data_range_for, psnr, ssim

TOL = 1e-4


def _smooth(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A smooth float image in [0, 1] (sum of sinusoids) so SSIM is neither 0 nor 1."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    base = 0.5 + 0.25 * np.sin(xx / 7.0 + phase[0]) + 0.2 * np.cos(yy / 5.0 + phase[1])
    if len(shape) == 3:
        base = np.stack([base * (0.8 + 0.1 * c) for c in range(shape[2])], axis=-1)
    return np.clip(base, 0.0, 1.0)


def _pair(dtype: np.dtype, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A reference and a noisy copy, both of ``dtype``, spread over the dtype's range."""
    rng = np.random.default_rng(seed)
    ref = _smooth(rng, shape)
    img = np.clip(ref + rng.normal(0.0, 0.05, size=shape), 0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        top = np.iinfo(dtype).max
        return np.round(ref * top).astype(dtype), np.round(img * top).astype(dtype)
    return ref.astype(dtype), img.astype(dtype)


def _sk_ssim(ref: np.ndarray, img: np.ndarray, data_range: float) -> float:
    """skimage SSIM with the arguments the field reports (Wang et al. 2004)."""
    return structural_similarity(
        ref.astype(np.float64),
        img.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=-1 if ref.ndim == 3 else None,
    )


CASES = [
    pytest.param(np.uint8, (48, 56), 255.0, id="uint8-gray"),
    pytest.param(np.uint16, (48, 56), 65535.0, id="uint16-gray"),
    pytest.param(np.float64, (48, 56), 1.0, id="float-gray"),
    pytest.param(np.uint8, (48, 56, 3), 255.0, id="uint8-rgb"),
]


@pytest.mark.parametrize(("dtype", "shape", "expected_range"), CASES)
def test_data_range_for_dtype(dtype, shape, expected_range):
    assert data_range_for(np.zeros(shape, dtype=dtype)) == expected_range


def test_data_range_explicit_wins_and_other_ints():
    assert data_range_for(np.zeros((2, 2), np.uint8), 2.0) == 2.0
    assert data_range_for(np.zeros((2, 2), np.float32), 255.0) == 255.0
    assert data_range_for(np.zeros((2, 2), np.int16)) == 65535.0


def test_uint16_pair_spans_full_range():
    ref, _ = _pair(np.uint16, (48, 56))
    # A hard-coded 255 would be badly wrong on these values.
    assert ref.max() > 60000 and ref.min() < 5000


@pytest.mark.parametrize(("dtype", "shape", "expected_range"), CASES)
def test_psnr_matches_skimage(dtype, shape, expected_range):
    ref, img = _pair(dtype, shape)
    expected = peak_signal_noise_ratio(ref, img, data_range=expected_range)
    assert abs(psnr(ref, img) - expected) < TOL
    assert 15.0 < expected < 40.0  # the comparison is not trivially inf or 0


@pytest.mark.parametrize(("dtype", "shape", "expected_range"), CASES)
def test_ssim_matches_skimage(dtype, shape, expected_range):
    ref, img = _pair(dtype, shape)
    expected = _sk_ssim(ref, img, expected_range)
    assert abs(ssim(ref, img) - expected) < TOL
    assert 0.1 < expected < 0.99


def test_identical_psnr_is_inf():
    ref, _ = _pair(np.uint8, (20, 20))
    assert psnr(ref, ref.copy()) == float("inf")


def test_uint16_psnr_equals_float_scaled():
    ref, img = _pair(np.uint16, (48, 56), seed=2)
    as_float = psnr(ref.astype(np.float64) / 65535.0, img.astype(np.float64) / 65535.0, data_range=1.0)
    assert abs(psnr(ref, img) - as_float) < 1e-9
    assert abs(ssim(ref, img) - ssim(ref / 65535.0, img / 65535.0, data_range=1.0)) < 1e-9


def test_shape_mismatch_raises():
    a = np.zeros((20, 20), np.uint8)
    with pytest.raises(MidnetError, match="shape"):
        psnr(a, np.zeros((20, 21), np.uint8))
    with pytest.raises(MidnetError, match="shape"):
        ssim(a, np.zeros((21, 20), np.uint8))


def test_a_mask_scores_only_the_pixels_it_selects():
    rng = np.random.default_rng(0)
    ref = rng.random((64, 80))
    img = ref.copy()
    img[:, :20] = rng.random((64, 20))  # wrong on the left, exact elsewhere
    mask = np.zeros(ref.shape, bool)
    mask[:, 40:] = True
    assert psnr(ref, img, data_range=1.0, mask=mask) == float("inf")
    assert psnr(ref, img, data_range=1.0, mask=~mask) == pytest.approx(psnr(ref[:, :40], img[:, :40], data_range=1.0))
    # the SSIM map is 1 where the window sees no difference (the window reaches 5 px)
    assert ssim(ref, img, data_range=1.0, mask=mask) == pytest.approx(1.0)
    assert ssim(ref, img, data_range=1.0, mask=~mask) < 0.6


def test_an_all_true_mask_is_the_unmasked_score():
    rng = np.random.default_rng(1)
    ref, img = rng.random((48, 56)), rng.random((48, 56))
    everything = np.ones(ref.shape, bool)
    # the same pixels averaged in another order: float64 summation, ~1e-16 apart
    assert ssim(ref, img, data_range=1.0, mask=everything) == pytest.approx(ssim(ref, img, data_range=1.0), rel=1e-12)
    assert psnr(ref, img, data_range=1.0, mask=everything) == pytest.approx(psnr(ref, img, data_range=1.0), rel=1e-12)


def test_a_mask_selects_pixels_of_every_channel():
    rng = np.random.default_rng(2)
    ref = rng.random((40, 48, 3))
    img = ref.copy()
    img[:, :16] = rng.random((40, 16, 3))
    mask = np.zeros((40, 48), bool)
    mask[:, 24:] = True
    assert psnr(ref, img, data_range=1.0, mask=mask) == float("inf")
    assert ssim(ref, img, data_range=1.0, mask=mask) == pytest.approx(1.0)
    everything = np.ones((40, 48), bool)
    assert ssim(ref, img, data_range=1.0, mask=everything) == pytest.approx(ssim(ref, img, data_range=1.0), rel=1e-12)


def test_a_mask_that_selects_nothing_is_refused():
    ref = np.zeros((32, 32))
    with pytest.raises(MidnetError, match="no pixel"):
        psnr(ref, ref, mask=np.zeros((32, 32), bool))
    with pytest.raises(MidnetError, match="does not match"):
        ssim(ref, ref, mask=np.ones((16, 32), bool))
    border = np.zeros((32, 32), bool)
    border[:3] = True  # inside the 5 px strip the SSIM window does not fit
    with pytest.raises(MidnetError, match="border"):
        ssim(ref, ref, mask=border)
