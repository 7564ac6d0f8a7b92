"""midnet.quality.metrics on real SEM blur/sharp pairs from the shared data set, checked against skimage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from midnet.data.shared import shared_pairs

DATA = shared_pairs()
if not (DATA / "blur").is_dir() or not (DATA / "sharp").is_dir():
    pytest.skip(f"real SEM pairs not found at {DATA}", allow_module_level=True)

from skimage.io import imread  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

from midnet.quality.metrics import psnr, ssim  # noqa: E402

CONTENT_ROWS = 960  # rows 960..1023 are the microscope's info bar
TOL = 1e-4
NAMES = ["1-1.png", "5-1.png"]


def _gray(path: Path) -> np.ndarray:
    """Channel 0 of an RGB micrograph (the channels differ by at most 1 level)."""
    image = imread(path)
    assert image.dtype == np.uint8 and image.shape == (1024, 1280, 3), image.shape
    return np.ascontiguousarray(image[..., 0])


@pytest.fixture(scope="module", params=NAMES)
def pair(request) -> tuple[np.ndarray, np.ndarray]:
    name = request.param
    if not (DATA / "blur" / name).is_file():
        pytest.skip(f"{name} not in {DATA}")
    return _gray(DATA / "blur" / name), _gray(DATA / "sharp" / name)


@pytest.fixture(scope="module")
def expected(pair) -> tuple[float, float]:
    """skimage PSNR and SSIM on the content rows only."""
    blur, sharp = pair
    s, b = sharp[:CONTENT_ROWS], blur[:CONTENT_ROWS]
    p = peak_signal_noise_ratio(s, b, data_range=255)
    q = structural_similarity(
        s.astype(np.float64),
        b.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    return p, q


def test_numpy_metrics_match_skimage(pair, expected):
    blur, sharp = pair
    assert abs(psnr(sharp[:CONTENT_ROWS], blur[:CONTENT_ROWS]) - expected[0]) < TOL
    assert abs(ssim(sharp[:CONTENT_ROWS], blur[:CONTENT_ROWS]) - expected[1]) < TOL


def test_blur_vs_sharp_psnr_is_plausible(pair, expected):
    # The data README reports about 18-25 dB; a wide band catches range/crop mistakes.
    assert 15.0 < expected[0] < 30.0
    assert 0.0 < expected[1] < 1.0
