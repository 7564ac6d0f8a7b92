"""Integer data on a coarser grid than its container: detectors that shift 10-14-bit data left into 16 bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import midnet
from midnet.inference.settings import RestoreSettings
from midnet.images.io import data_ceiling, data_grid

from ..conftest import smooth_image


@pytest.fixture(scope="module")
def restorer():
    net = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():  # away from the identity, so that it overshoots bright edges as real networks do
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return midnet.make_restorer(RestoreSettings.exact(model=net))


def shifted(bits: int, shift: int) -> np.ndarray:
    """``bits``-bit data (its full scale reached) shifted left by ``shift`` in a uint16 frame."""
    rng = np.random.default_rng(bits)
    values = np.clip(smooth_image(64, 80, seed=bits) + 0.02 * rng.standard_normal((64, 80)), 0, 1)
    data = np.round(values * ((1 << bits) - 1)).astype(np.uint16)
    return data << np.uint16(shift)


@pytest.mark.parametrize("bits, shift", [(12, 4), (14, 2), (10, 6), (8, 8), (12, 2)])
def test_left_shifted_data_comes_back_on_its_grid_and_under_its_ceiling(restorer, bits, shift):
    frame = shifted(bits, shift)
    step = 1 << shift
    out = restorer.deblur(frame, "none")
    assert out.dtype == np.uint16
    assert (out % step == 0).all()  # no level the data cannot have
    assert out.max() <= min(65536, 1 << (bits + shift)) - step
    assert not np.array_equal(out, frame)  # restored, not passed through


def test_the_grid_and_ceiling_of_left_shifted_data():
    frame = shifted(12, 4)
    assert data_grid(frame) == 16 and data_ceiling(frame, 16) == 65536 - 16
    assert data_grid(frame >> np.uint16(4)) == 1 and data_ceiling(frame >> np.uint16(4)) == 4095
    assert data_grid(np.zeros((4, 4), np.uint16)) == 1  # an all-black frame has no grid
    assert data_ceiling(np.full((4, 4), 128, np.uint8), 128) == 128  # the ceiling counts in the grid's steps


@pytest.mark.parametrize("values", [[128], [0, 128], [64, 128, 192], [96, 160]])
def test_a_frame_of_few_levels_has_no_grid_by_chance(values):
    """Flat or few-level frames are multiples of a power of two by chance, not shifted data: no grid."""
    frame = np.resize(np.array(values, np.uint8), (32, 32))
    assert data_grid(frame) == 1
    assert data_grid(frame.astype(np.uint16) << np.uint16(4)) == 1


def test_ordinary_12_bit_data_keeps_every_level(restorer):
    frame = shifted(12, 0)
    out = restorer.deblur(frame, "none")
    assert out.max() <= 4095 and len(np.unique(out % 16)) == 16  # fine levels: no grid imposed
