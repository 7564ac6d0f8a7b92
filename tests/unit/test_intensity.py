"""A restoration does not depend on how the frame's intensities were stored (midnet/images/intensity.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.images import intensity
from midnet.errors import MidnetError

from ..conftest import smooth_image


@pytest.fixture(scope="module")
def restorer():
    net = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():  # away from the identity a fresh network computes, so intensities matter
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return midnet.make_restorer(RestoreSettings.exact(model=net))


def frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.15 + 0.7 * smooth_image(64, 80, seed) + 0.03 * rng.standard_normal((64, 80)), 0, 1)


def test_map_puts_the_percentiles_on_zero_and_one():
    values = np.random.default_rng(1).random((50, 60)).astype(np.float32) * 3 + 7
    scale = intensity.measure(values)
    low, high = np.percentile(values, intensity.PERCENTILES)
    np.testing.assert_allclose(scale.forward(np.array([low, high])), [0, 1], atol=1e-5)
    np.testing.assert_allclose(scale.inverse(scale.forward(values)), values, rtol=1e-6)


def test_a_flat_frame_is_shifted_not_stretched():
    flat = np.full((40, 40), 0.4, np.float32)
    assert intensity.measure(flat) == intensity.IntensityMap(np.float32(0.4), 1.0)
    flat[3, 4] = 0.41  # one hot pixel in 1600, beyond the 99.8th percentile: its step stays small
    assert intensity.measure(flat).span == pytest.approx(0.01, rel=1e-4)


@pytest.mark.parametrize("data_max, ceiling", [(200, 255), (255, 255), (256, 1023), (1023, 1023), (3000, 4095),
                                               (4096, 16383), (40000, 65535)])
def test_the_data_ceiling_follows_the_bit_depth(data_max, ceiling):
    from midnet.images.io import data_ceiling

    a = np.zeros((4, 4), np.uint16)
    a[0, 0] = data_max
    assert data_ceiling(a) == ceiling


def test_nan_is_one_clear_error():
    bad = np.zeros((20, 20), np.float32)
    bad[2, 2] = np.nan
    with pytest.raises(MidnetError, match="NaN"):
        intensity.measure(bad)


@pytest.mark.parametrize("factor", [4, 16, 64, 257])  # 10, 12, 14 and 16 bits in a uint16 container
def test_bit_depth_in_a_uint16_container_restores_like_the_8_bit_file(restorer, factor):
    eight = np.round(frame() * 255).astype(np.uint8)
    deep = eight.astype(np.uint16) * np.uint16(factor)  # the same data, exactly, with more bits
    out8 = restorer.deblur(eight, "none").astype(np.float64)
    restored = restorer.deblur(deep, "none")
    back = restored.astype(np.float64) / factor
    from midnet.images.io import data_ceiling

    # each output is rounded to its own grid (half a level of each), and clipped at its own
    # ceiling: 255 for 8 bits, 2**k - 1 for k bits, which is up to 3/4 level higher mapped back
    headroom = data_ceiling(deep) / factor - 255
    assert np.abs(back - out8).max() <= 0.5 + 0.5 / factor + headroom + 1e-9
    assert restored.max() <= data_ceiling(deep)


@pytest.mark.parametrize("gain, offset", [(0.3, 0.0), (1.5, -0.2), (255.0, 0.0), (2.0, -1.0), (0.5, 100.0)])
def test_gain_and_offset_of_a_float_frame_do_not_change_the_restoration(restorer, gain, offset):
    f = frame(2).astype(np.float32)
    reference = restorer.deblur(f, "none").astype(np.float64)  # a [0, 1] float frame: the output is clipped there
    changed = (f.astype(np.float64) * gain + offset).astype(np.float32)
    back = np.clip((restorer.deblur(changed, "none").astype(np.float64) - offset) / gain, 0, 1)
    # float32 rounding of the stored values and of the map, scaled back: relative 1e-6 of the range
    assert np.abs(back - reference).max() < 1e-4


@pytest.mark.parametrize("dtype", [np.uint32, np.int32])
def test_saturated_wide_integer_pixels_stay_saturated(dtype):
    from midnet.inference.restore import to_dtype

    top = np.iinfo(dtype).max  # float32 rounds 2**31 - 1 and 2**32 - 1 up, past the dtype: it wrapped round
    out = to_dtype(np.array([[1.0, 1.5, 0.5]], np.float32), dtype, 0.0, float(top), float(top))
    assert out.dtype == dtype and out[0, 0] == top and out[0, 1] == top and abs(int(out[0, 2]) - top // 2) <= 256


def test_float16_far_from_unit_range_never_becomes_infinite(restorer):
    a = (frame(5) * 60000).astype(np.float16)
    assert np.isfinite(restorer.deblur(a, "none")).all()


def test_the_compare_picture_of_12_bit_data_uses_its_bit_depth(tmp_path):
    from PIL import Image

    from midnet.quality.figures import compare_figure

    twelve = (frame(6) * 4095).astype(np.uint16)  # 12-bit data in a 16-bit file
    eight = np.round(twelve / 4095 * 255).astype(np.uint8)
    a = np.asarray(Image.open(compare_figure(twelve, twelve, tmp_path / "12.png")))
    b = np.asarray(Image.open(compare_figure(eight, eight, tmp_path / "8.png")))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # the same picture, not one 16 times darker
