"""Unit tests for midnet.inference.tiling: tile placement and seamless blending of overlapping tiles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from midnet.inference.tiling import _ramp_two, predict_tiled, tile_starts

H, W = 70, 101
TILE, OVERLAP = 32, 8


@pytest.fixture
def image() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand((2, 3, H, W), generator=g)


def _weight_map(length: int, tile: int, overlap: int) -> torch.Tensor:
    """The 1-D blend weight summed over tiles, built as predict_tiled builds it."""
    overlap = min(overlap, tile // 2)
    starts, t = tile_starts(length, tile, overlap), min(tile, length)
    total = torch.zeros(length, dtype=torch.float64)
    for i, s in enumerate(starts):
        before = starts[i - 1] + t - s if i > 0 else 0
        after = s + t - starts[i + 1] if i + 1 < len(starts) else 0
        total[s : s + t] += _ramp_two(t, before, after, "cpu", torch.float64)
    return total


# ---------------------------------------------------------------- tile_starts


@pytest.mark.parametrize("length", [33, 40, 56, 57, 70, 101, 128, 1000])
@pytest.mark.parametrize("tile,overlap", [(32, 8), (32, 16), (16, 4), (64, 0), (512, 64)])
def test_tile_starts_cover(length, tile, overlap):
    if tile >= length:
        assert tile_starts(length, tile, overlap) == [0]
        return
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] + tile == length  # the last tile ends at the border
    assert starts == sorted(set(starts))  # increasing, no duplicate tile
    for a, b in zip(starts, starts[1:]):
        assert a + tile - b >= overlap  # neighbours overlap by at least `overlap`
    covered = torch.zeros(length, dtype=torch.bool)
    for s in starts:
        covered[s : s + tile] = True
    assert covered.all()


def test_tile_starts_examples():
    assert tile_starts(101, 32, 8) == [0, 24, 48, 69]
    assert tile_starts(70, 32, 8) == [0, 24, 38]
    assert tile_starts(32, 32, 8) == [0]
    assert tile_starts(20, 32, 8) == [0]
    assert tile_starts(56, 32, 8) == [0, 24]


def test_tile_starts_bad_overlap():
    with pytest.raises(ValueError):
        tile_starts(100, 16, 16)


@pytest.mark.parametrize("length", [H, W])
def test_blend_weights_sum_to_one(length):
    # the raw weights (before predict_tiled's normalisation) form a partition of unity
    total = _weight_map(length, TILE, OVERLAP)
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-12)


# ---------------------------------------------------------------- predict_tiled


def test_identity_whole(image):
    out = predict_tiled(nn.Identity(), image, tile=None)
    assert torch.equal(out, image)


def test_identity_tiled(image):
    out = predict_tiled(nn.Identity(), image, tile=TILE, overlap=OVERLAP)
    assert out.shape == image.shape
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, image, rtol=0, atol=1e-6)


def test_identity_tiled_float64():
    g = torch.Generator().manual_seed(1)
    image = torch.rand((1, 1, H, W), generator=g, dtype=torch.float64)
    out = predict_tiled(lambda t: t, image, tile=TILE, overlap=OVERLAP)
    torch.testing.assert_close(out, image, rtol=0, atol=1e-14)


@pytest.mark.parametrize("tile,overlap", [(32, 8), (16, 8), (33, 64), (40, 0), (64, 8), (70, 8), (200, 8)])
def test_pixelwise_tiled_equals_whole(image, tile, overlap):
    f = lambda t: t * 2 + 1  # noqa: E731
    whole = predict_tiled(f, image, tile=None)
    tiled = predict_tiled(f, image, tile=tile, overlap=overlap)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def test_tiled_blends_across_seams(image):
    # a model that adds a per-tile constant: inside overlaps the result is a smooth mix
    calls = []

    def offset(t):
        calls.append(t.shape)
        return t + len(calls)

    out = predict_tiled(offset, image, tile=TILE, overlap=OVERLAP)
    delta = out - image
    assert delta.min() >= 1 - 1e-5 and delta.max() <= len(calls) + 1e-5
    # no jump larger than one tile-index step between neighbouring pixels
    assert (delta[..., 1:] - delta[..., :-1]).abs().max() < 1
    assert (delta[..., 1:, :] - delta[..., :-1, :]).abs().max() < len(tile_starts(W, TILE, OVERLAP))


def test_tiles_see_tile_sized_inputs(image):
    shapes = []
    predict_tiled(lambda t: shapes.append(tuple(t.shape)) or t, image, tile=TILE, overlap=OVERLAP)
    assert set(shapes) == {(2, 3, TILE, TILE)}


def test_tile_larger_than_one_side(image):
    shapes = []
    out = predict_tiled(lambda t: shapes.append(tuple(t.shape)) or t, image, tile=80, overlap=OVERLAP)
    assert set(shapes) == {(2, 3, H, 80)}
    torch.testing.assert_close(out, image, rtol=0, atol=1e-6)


def test_on_tile_counts_all_tiles(image):
    events = []
    predict_tiled(nn.Identity(), image, tile=TILE, overlap=OVERLAP, on_tile=lambda d, t: events.append((d, t)))
    n = len(tile_starts(H, TILE, OVERLAP)) * len(tile_starts(W, TILE, OVERLAP))
    assert n == 3 * 4
    assert events == [(i, n) for i in range(1, n + 1)]


def test_on_tile_whole_image(image):
    events = []
    predict_tiled(nn.Identity(), image, tile=None, on_tile=lambda d, t: events.append((d, t)))
    assert events == [(1, 1)]
    events.clear()
    predict_tiled(nn.Identity(), image, tile=128, on_tile=lambda d, t: events.append((d, t)))
    assert events == [(1, 1)]


def test_no_grad(image):
    conv = nn.Conv2d(3, 3, 3, padding=1)
    out = predict_tiled(conv, image.requires_grad_(), tile=TILE, overlap=OVERLAP)
    assert not out.requires_grad
