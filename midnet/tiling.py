"""Restoring an image of any size in overlapping tiles, blended so no seam shows.

Tiles overlap by ``overlap`` pixels; inside an overlap each tile's weight ramps down
with a raised cosine while its neighbour's ramps up; the sum is divided by the summed
weights, so the result is a smooth mix wherever tiles meet. Image borders get no ramp. Memory is bounded by the tile size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``length`` with tiles of ``tile`` that overlap at least ``overlap``."""
    if tile >= length:
        return [0]
    step = tile - overlap
    if step <= 0:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _ramp(n: int, overlap: int, ramp_start: bool, ramp_end: bool, device, dtype) -> torch.Tensor:
    w = torch.ones(n, device=device, dtype=dtype)
    if overlap > 0:
        # raised cosine from ~0 to ~1 across the overlap; pairs of ramps sum to exactly one
        t = (torch.arange(overlap, device=device, dtype=dtype) + 0.5) / overlap
        up = 0.5 - 0.5 * torch.cos(torch.pi * t)
        if ramp_start:
            w[:overlap] = up
        if ramp_end:
            w[-overlap:] = up.flip(0)
    return w


@torch.no_grad()
def predict_tiled(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int | None = None,
    overlap: int = 64,
    on_tile: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run ``model`` over an NCHW ``image`` whole (``tile=None``) or in blended tiles.

    ``on_tile(done, total)`` is called after every tile (for progress bars).
    """
    n, c, h, w = image.shape
    if tile is None or (tile >= h and tile >= w):
        out = model(image)
        if on_tile:
            on_tile(1, 1)
        return out
    overlap = min(overlap, tile // 2)
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    out = torch.zeros_like(image)
    weight = torch.zeros((1, 1, h, w), device=image.device, dtype=image.dtype)
    total, done = len(ys) * len(xs), 0
    for iy, y in enumerate(ys):
        th = min(tile, h)
        # the actual overlap with the neighbour, which can exceed `overlap` for the last tile
        ov_top = ys[iy - 1] + th - y if iy > 0 else 0
        ov_bottom = y + th - ys[iy + 1] if iy + 1 < len(ys) else 0
        for ix, x in enumerate(xs):
            tw = min(tile, w)
            ov_left = xs[ix - 1] + tw - x if ix > 0 else 0
            ov_right = x + tw - xs[ix + 1] if ix + 1 < len(xs) else 0
            pred = model(image[:, :, y : y + th, x : x + tw])
            wy = _ramp_two(th, ov_top, ov_bottom, image.device, image.dtype)
            wx = _ramp_two(tw, ov_left, ov_right, image.device, image.dtype)
            win = wy[:, None] * wx[None, :]
            out[:, :, y : y + th, x : x + tw] += pred * win
            weight[:, :, y : y + th, x : x + tw] += win
            done += 1
            if on_tile:
                on_tile(done, total)
    return out.div_(weight)


def _ramp_two(n: int, start: int, end: int, device, dtype) -> torch.Tensor:
    """A window of length n ramping over its first ``start`` and last ``end`` samples."""
    w = torch.ones(n, device=device, dtype=dtype)
    if start:
        w = w * _ramp(n, start, True, False, device, dtype)
    if end:
        w = w * _ramp(n, end, False, True, device, dtype)
    return w
