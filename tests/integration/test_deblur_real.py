"""The info bar of real JEOL micrographs (the shared SEM pairs) survives midnet.deblur bit for bit.

Rows 960..1023 of every frame are the microscope's black info bar (see the data's README).
A small MIDNet (width 8, perturbed beta/gamma) stands in for the shipped network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import midnet
from midnet.inference.settings import EXACT
from midnet.images.infobar import detect_infobar

BAR = 64



@pytest.fixture
def net():
    model = midnet.create_model("midnet-s", width=8)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.1)
    return model.eval()


def blur_frame(sem_pairs, name: str) -> np.ndarray:
    with Image.open(sem_pairs / "blur" / f"{name}.png") as im:
        return np.asarray(im)


@pytest.mark.parametrize("name", ["1-1", "5-1"])
def test_real_info_bar_is_copied_bit_for_bit(sem_pairs, net, name):
    frame = blur_frame(sem_pairs, name)
    assert frame.shape == (1024, 1280, 3) and frame.dtype == np.uint8
    crop = np.ascontiguousarray(frame[-300:, :400, 0])  # 236 rows of micrograph above the 64-row bar
    assert detect_infobar(crop) == BAR
    before = crop.copy()
    out = midnet.deblur(crop, model=net, infobar="auto", **EXACT)
    assert out.dtype == np.uint8 and out.shape == crop.shape
    np.testing.assert_array_equal(out[-BAR:], crop[-BAR:])
    assert (out[:-BAR] != crop[:-BAR]).any(axis=1).mean() > 0.95
    np.testing.assert_array_equal(crop, before)


def test_real_full_rgb_frame_keeps_its_bar_and_stays_gray(sem_pairs, net):
    frame = blur_frame(sem_pairs, "3-1")
    progress = []
    out = midnet.deblur(frame, model=net, infobar="auto", tile=512, overlap=32,
                        on_tile=lambda d, t: progress.append((d, t)), **EXACT)
    assert out.shape == frame.shape and out.dtype == frame.dtype
    np.testing.assert_array_equal(out[-BAR:], frame[-BAR:])  # coloured text pixels included
    assert (out[:-BAR] != frame[:-BAR]).any(axis=(1, 2)).mean() > 0.95
    # gray content stored as RGB is restored once: the channels of the body are equal
    np.testing.assert_array_equal(out[:-BAR, :, 0], out[:-BAR, :, 1])
    np.testing.assert_array_equal(out[:-BAR, :, 0], out[:-BAR, :, 2])
    assert progress[-1][1] > 1  # a 960x1280 body in 512 px tiles
