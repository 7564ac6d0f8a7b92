"""Unit tests for midnet.data.crops: seeded, rank-sharded random crops with flips/rotations, intensity-normalised."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from midnet.data.crops import batch_rng, sample_batch
from midnet.data.pairs import Pair
from midnet.errors import MidnetError

from ..conftest import smooth_image

CROP, B = 16, 8


def make_pair(name: str, h: int, w: int, seed: int) -> Pair:
    """A pair whose sharp is exactly half the blur, on noisy content so every crop is unique."""
    rng = np.random.default_rng(seed)
    blur = (0.7 * smooth_image(h, w, seed=seed) + 0.3 * rng.random((h, w))).astype(np.float32)
    sharp = blur * np.float32(0.5)
    return Pair(name=name, blur=blur, sharp=sharp, infobar=0, shift=(0.0, 0.0), aligned=False, full_scale=255.0)


@pytest.fixture
def pairs() -> list[Pair]:
    return [make_pair("a", 40, 57, 1), make_pair("b", 64, 33, 2), make_pair("c", 24, 24, 3)]


def _windows(img: np.ndarray, crop: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(img, (crop, crop))


def network_view(p: Pair) -> np.ndarray:
    """The blurry frame as the network sees it: through the frame's percentile map."""
    return p.intensity.forward(p.blur)


def _found_in(crop: np.ndarray, pairs: list[Pair]) -> bool:
    """Is ``crop`` one of the 8 flips/rotations of some window of some (normalised) blur image?"""
    for p in pairs:
        win = _windows(network_view(p), crop.shape[0])
        for k in range(4):
            for flip in (False, True):
                # undo sample_batch's augmentation: first the flip, then the rot90(k)
                c = np.rot90(crop[:, ::-1] if flip else crop, -k)
                if (win == c).all(axis=(2, 3)).any():
                    return True
    return False


def test_shape_dtype(pairs):
    x, y = sample_batch(pairs, B, CROP, seed=0, iteration=0)
    assert x.shape == y.shape == (B, 1, CROP, CROP)
    assert x.dtype == y.dtype == torch.float32


def test_deterministic(pairs):
    x1, y1 = sample_batch(pairs, B, CROP, seed=7, iteration=3, rank=1)
    x2, y2 = sample_batch(pairs, B, CROP, seed=7, iteration=3, rank=1)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_independent_of_global_rng(pairs):
    x1, _ = sample_batch(pairs, B, CROP, seed=7, iteration=3)
    np.random.seed(123)
    torch.manual_seed(123)
    np.random.random(10)
    x2, _ = sample_batch(pairs, B, CROP, seed=7, iteration=3)
    assert torch.equal(x1, x2)


@pytest.mark.parametrize("change", [{"iteration": 4}, {"rank": 2}, {"seed": 8}])
def test_differs(pairs, change):
    base = dict(seed=7, iteration=3, rank=1)
    x1, _ = sample_batch(pairs, B, CROP, **base)
    x2, _ = sample_batch(pairs, B, CROP, **{**base, **change})
    assert not torch.equal(x1, x2)


def test_batch_rng():
    a = batch_rng(1, 2, 3).random(4)
    assert np.array_equal(a, batch_rng(1, 2, 3).random(4))
    assert not np.array_equal(a, batch_rng(1, 3, 2).random(4))


@pytest.mark.parametrize("augment", [True, False])
def test_blur_and_sharp_from_same_place(pairs, augment):
    for it in range(5):
        x, y = sample_batch(pairs, B, CROP, seed=0, iteration=it, augment=augment)
        # sharp = blur / 2 and both go through the blurry frame's map (v - low) / span,
        # so y - x / 2 is the constant -low / (2 span) of the crop's own micrograph
        offsets = [-p.intensity.low / (2 * p.intensity.span) for p in pairs]
        for i in range(B):
            diff = (y[i] - x[i] * 0.5).numpy()
            assert np.ptp(diff) < 1e-5
            assert min(abs(float(diff.mean()) - o) for o in offsets) < 1e-5


def test_crops_come_from_the_images(pairs):
    x, _ = sample_batch(pairs, B, CROP, seed=0, iteration=0)
    for i in range(B):
        assert _found_in(x[i, 0].numpy(), pairs)


def test_no_augment_crops_are_plain_windows(pairs):
    x, _ = sample_batch(pairs, B, CROP, seed=0, iteration=0, augment=False)
    for i in range(B):
        c = x[i, 0].numpy()
        assert any((_windows(network_view(p), CROP) == c).all(axis=(2, 3)).any() for p in pairs)


def test_augment_uses_several_orientations():
    # an asymmetric ramp: each of the 8 orientations of a crop gives a different corner order
    h = w = 20
    ramp = (np.arange(h)[:, None] * 1.0 + np.arange(w)[None, :] * 100.0).astype(np.float32)
    pair = Pair("r", ramp, ramp * np.float32(0.5), 0, (0.0, 0.0), False, 1.0)
    seen = set()
    for it in range(64):
        x, _ = sample_batch([pair], 4, CROP, seed=0, iteration=it)
        for c in x[:, 0].numpy():
            corners = (c[0, 0], c[0, -1], c[-1, 0], c[-1, -1])
            seen.add(tuple(np.argsort(corners)))
    assert len(seen) == 8


def test_crop_equal_to_image_size():
    p = make_pair("exact", CROP, CROP, 4)
    x, y = sample_batch([p], 2, CROP, seed=0, iteration=0, augment=False)
    assert torch.equal(x[0, 0], torch.from_numpy(network_view(p)))


@pytest.mark.parametrize("shape", [(15, 40), (40, 15), (10, 10)])
def test_crop_larger_than_image(shape):
    small = make_pair("tiny", *shape, seed=5)
    with pytest.raises(MidnetError, match="tiny"):
        sample_batch([make_pair("ok", 40, 40, 6), small], B, CROP, seed=0, iteration=0)


def test_pairs_sampled_by_area():
    big, small = make_pair("big", 96, 96, 7), make_pair("small", 16, 16, 8)
    counts = {"big": 0, "small": 0}
    small_view = network_view(small)
    small_set = {float(v) for v in small_view.ravel()}
    for it in range(40):
        x, _ = sample_batch([big, small], 16, CROP, seed=1, iteration=it, augment=False)
        for c in x[:, 0].numpy():
            counts["small" if float(c[0, 0]) in small_set and np.array_equal(c, small_view) else "big"] += 1
    # area ratio 36:1, so ~17 of 640 crops come from the small image
    assert 3 <= counts["small"] <= 45
