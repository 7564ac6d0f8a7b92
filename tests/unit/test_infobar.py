"""Unit tests for midnet.images.infobar on generated micrographs with and without a vendor bar."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import midnet.images.infobar
from midnet.errors import MidnetError
from midnet.images.infobar import detect_infobar, resolve_infobar

from ..conftest import smooth_image

H, W = 256, 320


def textured(h: int = H, w: int = W, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """smooth_image plus Gaussian noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed + 100)
    img = smooth_image(h, w, seed=seed) + rng.normal(0, noise, (h, w))
    return np.clip(img, 0, 1).astype(np.float32)


def add_bar(img: np.ndarray, rows: int, background: float, ink: float) -> np.ndarray:
    """Overwrite the bottom ``rows`` with a uniform band holding text-like blocks."""
    out = img.copy()
    h, w = out.shape
    bar = np.full((rows, w), background, dtype=out.dtype)
    # "text": glyph-sized blocks on two text lines over the left 60% of the width,
    # covering ~20% of the bar's pixels (at most ~25% of any one row)
    for top in (4, 20):
        for left in range(10, int(0.6 * w), 12):
            bar[top : top + 12, left : left + 5] = ink
    # a scale bar
    bar[rows - 6 : rows - 3, 20 : w // 3] = ink
    out[h - rows :] = bar
    return out


def test_no_bar():
    assert detect_infobar(textured()) == 0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_bar_several_seeds(seed):
    assert detect_infobar(textured(seed=seed)) == 0


def test_black_bar_white_text():
    img = add_bar(textured(), 40, background=0.0, ink=1.0)
    bar = img[-40:]
    text_fraction = (bar > 0.5).mean()
    assert 0.1 < text_fraction < 0.35  # the bar really holds text
    assert (bar > 0.5).mean(axis=1).max() < 0.5  # every row is still mostly background
    assert detect_infobar(img) == 40


def test_white_bar_black_text():
    img = add_bar(textured(seed=1), 48, background=1.0, ink=0.0)
    assert detect_infobar(img) == 48


def test_grey_bar():
    img = add_bar(textured(seed=2), 32, background=0.3, ink=0.95)
    assert detect_infobar(img) == 32


def test_uint8_bar():
    img = add_bar(textured(seed=3), 40, background=0.0, ink=1.0)
    img8 = (img * 255).round().astype(np.uint8)
    assert detect_infobar(img8) == 40


def test_uint16_bar():
    img = add_bar(textured(seed=4), 40, background=0.0, ink=1.0)
    img16 = (img * 65535).round().astype(np.uint16)
    assert img16.dtype == np.uint16 and img16.max() > 255
    assert detect_infobar(img16) == 40


def test_uint16_bar_narrow_range():
    # a 12-bit detector stored in 16 bits: values stay far below 65535
    img = add_bar(textured(seed=5), 40, background=0.05, ink=0.9)
    img16 = (img * 4095).round().astype(np.uint16)
    assert detect_infobar(img16) == 40


def test_rgb_bar():
    img = add_bar(textured(seed=6), 40, background=0.0, ink=1.0)
    rgb = (np.stack([img] * 3, axis=-1) * 255).round().astype(np.uint8)
    assert detect_infobar(rgb) == 40


def test_dark_textured_bottom_is_not_a_bar():
    img = textured(seed=7)
    rng = np.random.default_rng(7)
    dark = 0.04 + 0.1 * smooth_image(40, W, seed=8) + rng.normal(0, 0.05, (40, W))
    img[-40:] = np.clip(dark, 0, 1)
    assert detect_infobar(img) == 0


def test_too_thin_band_is_not_a_bar():
    img = add_bar(textured(seed=9), 40, background=0.0, ink=1.0)
    img[:-4] = textured(seed=9)[:-4]  # only 4 uniform rows remain
    assert detect_infobar(img) == 0


def test_too_tall_band_is_not_a_bar():
    h = 100
    img = np.zeros((h, W), np.float32)
    img[:40] = textured(40, W, seed=10)  # 60% of the frame uniform: no vendor bar is that tall
    assert detect_infobar(img) == 0


def test_small_image():
    assert detect_infobar(np.zeros((10, 10), np.float32)) == 0


# ---------------------------------------------------------------- resolve_infobar


def test_resolve_none():
    img = add_bar(textured(), 40, background=0.0, ink=1.0)
    assert resolve_infobar("none", img) == 0
    assert resolve_infobar(None, img) == 0


@pytest.mark.parametrize("spec", [0, 17, "17"])
def test_resolve_int(spec):
    assert resolve_infobar(spec, textured()) == int(spec)


@pytest.mark.parametrize("spec", [H, H + 1, 10_000, -1])
def test_resolve_int_out_of_range(spec):
    with pytest.raises(MidnetError, match="rows"):
        resolve_infobar(spec, textured())


@pytest.mark.parametrize("spec", ["automatic", "yes", "", "4o", "Auto!"])
def test_resolve_garbage(spec):
    with pytest.raises(MidnetError, match="infobar"):
        resolve_infobar(spec, textured())


def test_resolve_auto():
    img = add_bar(textured(), 40, background=0.0, ink=1.0)
    assert resolve_infobar("auto", img) == 40
    assert resolve_infobar("auto", textured()) == 0


# ---------------------------------------------------------------- memory, NaN, alpha


def _peak_bytes(fn, *args) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_no_float_copy_of_the_frame(monkeypatch):
    # a 40000x40000 frame once needed 12 GiB here: a float64 copy of the whole frame
    monkeypatch.setattr(midnet.images.infobar, "CHUNK_PIXELS", 1 << 16)
    gray = (add_bar(textured(1024, 1024, seed=11), 40, background=0.0, ink=1.0) * 65535).round().astype(np.uint16)
    rgb = np.stack([gray] * 3, axis=-1)
    frame = 4 * 1024 * 1024  # bytes of one float32 gray frame
    for image in (gray, rgb):
        rows, peak = _peak_bytes(detect_infobar, image)
        assert rows == 40
        assert peak < frame / 4, (image.shape, peak)  # blocks of 64 rows, not the 1024 of the frame


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_one_error_no_warning(bad):
    img = add_bar(textured(seed=12), 40, background=0.0, ink=1.0)
    img[5, 6] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarning (inf - inf) would fail here
        with pytest.raises(MidnetError, match="NaN or infinite"):
            detect_infobar(img)


def test_gray_alpha_bar_ignores_alpha():
    img = (add_bar(textured(seed=13), 40, background=0.0, ink=1.0) * 255).round().astype(np.uint8)
    alpha = np.random.default_rng(13).integers(0, 256, img.shape, dtype=np.uint8)  # was averaged with gray
    assert detect_infobar(np.stack([img, alpha], axis=-1)) == 40
