"""Restoring an image of any size in overlapping tiles, blended so no seam shows.

Tiles overlap by ``overlap`` pixels; inside an overlap each tile's weight ramps down
with a raised cosine while its neighbour's ramps up; the sum is divided by the summed
weights, so the result is a smooth mix wherever tiles meet.

NAFNet-family blocks pool each channel over the whole image (Simplified Channel
Attention), so a tile alone sees other statistics than the whole frame and no overlap
makes plain tiling exact. With ``stats_passes=2`` a first pass over the tiles records
every pooling layer's sums over a partition of the frame, and the second pass feeds
those whole-frame means to every tile: the tiled result then matches the whole-image
result up to the convolutions' reach across tile borders, with memory still bounded by
the tile size.

The two passes (:func:`record_means`, :func:`blend_rows`) take each tile's input from a
function, so a frame in memory (:func:`predict_tiled`) and a plane read from a store block by
block (midnet/cluster/large_images.py) run the same tiles through the same code and blend them into the
same bytes; :func:`blend_rows` hands rows out as soon as no later tile reaches them.

Frames are padded to the network's size multiple by reflection before the network sees
them. NAFNet's own code pads with zeros (harmless on its 1280x720 GoPro frames, which need
none): on a 956x1249 registered SEM frame that dark band turns into bright lines along two
edges and shifts every pooled channel mean; reflection avoids both (docs/results.md;
scripts/registration_report.py --model measures the difference). This is the one place a frame is
padded on its way through midnet: each network keeps its official padding for direct
calls (so official checkpoints give their official outputs), and on a frame padded here
to its size multiple that padding has nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..models.blocks import pad_to_multiple
from ..models.protocol import RestorationNetwork


def final_output(out):
    """The restored image of a network: multi-stage networks (HINet) return every stage, the last is final."""
    return out[-1] if isinstance(out, (list, tuple)) else out


def predict_whole(model: Callable[[torch.Tensor], object], image: torch.Tensor, align: int) -> torch.Tensor:
    """``model`` on the whole frame, padded by reflection to a multiple of ``align`` and cropped back."""
    h, w = image.shape[-2:]
    return final_output(model(pad_to_multiple(image, align, mode="reflect")))[..., :h, :w]


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets (multiples of ``align``) covering ``length`` with tiles overlapping >= ``overlap``."""
    if tile >= length:
        return [0]
    step = (tile - overlap) // align * align
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


def _ramp_two(n: int, start: int, end: int, device, dtype) -> torch.Tensor:
    """A window of length n ramping over its first ``start`` and last ``end`` samples."""
    w = torch.ones(n, device=device, dtype=dtype)
    if start:
        w = w * _ramp(n, start, True, False, device, dtype)
    if end:
        w = w * _ramp(n, end, False, True, device, dtype)
    return w


def _cores(starts: list[int], tile: int, length: int, align: int) -> list[tuple[int, int]]:
    """A partition of [0, length) into one core per tile (cut at the middle of each overlap)."""
    cuts = [0]
    for a, b in zip(starts, starts[1:]):
        cuts.append((b + a + tile) // 2 // align * align)
    cuts.append(length)
    return list(zip(cuts, cuts[1:]))


@dataclass(frozen=True)
class TilePlan:
    """How an (h, w) frame is tiled: the frame padded to (ph, pw), tiles of (th, tw) at rows ``ys`` and columns
    ``xs``, each tile's core (a partition of the padded frame, for the whole-frame statistics) and its blend.

    The one plan of :func:`predict_tiled` and of midnet/cluster/large_images.py's block-by-block restoration, so that both
    run the same tiles and blend them with the same windows.
    """

    h: int
    w: int
    ph: int
    pw: int
    th: int
    tw: int
    ys: list[int]
    xs: list[int]
    cores_y: list[tuple[int, int]]
    cores_x: list[tuple[int, int]]

    def core(self, iy: int, ix: int) -> tuple[int, int, int, int]:
        """The core of tile (iy, ix) in the tile's own coordinates: y0, y1, x0, x1."""
        (cy0, cy1), (cx0, cx1), y, x = self.cores_y[iy], self.cores_x[ix], self.ys[iy], self.xs[ix]
        return cy0 - y, cy1 - y, cx0 - x, cx1 - x

    def window(self, iy: int, ix: int, device, dtype) -> torch.Tensor:
        """Tile (iy, ix)'s blending weights: raised cosines over its overlaps with its neighbours."""
        ys, xs, th, tw = self.ys, self.xs, self.th, self.tw
        y, x = ys[iy], xs[ix]
        ov_top = ys[iy - 1] + th - y if iy > 0 else 0
        ov_bottom = y + th - ys[iy + 1] if iy + 1 < len(ys) else 0
        ov_left = xs[ix - 1] + tw - x if ix > 0 else 0
        ov_right = x + tw - xs[ix + 1] if ix + 1 < len(xs) else 0
        return _ramp_two(th, ov_top, ov_bottom, device, dtype)[:, None] * _ramp_two(
            tw, ov_left, ov_right, device, dtype)[None, :]


def plan_tiles(h: int, w: int, tile: int, overlap: int, align: int = 1) -> TilePlan:
    """The tiling of an (h, w) frame for a network of size multiple ``align``: tiles and overlaps aligned to
    it (so every tile's feature maps line up with the whole frame's), the frame padded to it once."""
    tile = max(align, tile // align * align)
    overlap = min(overlap, tile // 2) // (2 * align) * (2 * align) if align > 1 else min(overlap, tile // 2)
    ph, pw = -(-h // align) * align, -(-w // align) * align  # pad_to_multiple's size
    ys, xs = tile_starts(ph, tile, overlap, align), tile_starts(pw, tile, overlap, align)
    th, tw = min(tile, ph), min(tile, pw)
    return TilePlan(h, w, ph, pw, th, tw, ys, xs, _cores(ys, th, ph, align), _cores(xs, tw, pw, align))


TileSource = Callable[[int, int], torch.Tensor]  # (row, column) of a tile in its plan -> the network's input


def pool_layers(model) -> list[nn.Module]:
    """The global average pools of ``model`` whose whole-frame statistics tiles share (none for a plain callable)."""
    if not isinstance(model, nn.Module):
        return []
    return [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))]


class GlobalPoolStats:
    """Forward hooks on every global average pool: record sums over tile cores, or replay whole-frame means."""

    def __init__(self, model: nn.Module):
        self.pools = pool_layers(model)
        self.sums: dict[int, torch.Tensor] = {}
        self.counts: dict[int, int] = {}
        self.means: dict[int, torch.Tensor] | None = None
        self.core = (0, 0, 0, 0)  # y0, y1, x0, x1 of the current tile's core, tile coordinates
        self.tile_h = 1
        self.recording = False
        self.handles = [m.register_forward_hook(self._hook) for m in self.pools]

    def _hook(self, module, inputs, output):
        key = id(module)
        x = inputs[0]
        if self.recording:
            f = self.tile_h // x.shape[-2]  # the layer's downscale (tiles are aligned to the network's multiple)
            y0, y1, x0, x1 = (v // f for v in self.core)
            region = x[..., y0:y1, x0:x1]
            self.sums[key] = self.sums.get(key, 0) + region.double().sum(dim=(-2, -1))
            self.counts[key] = self.counts.get(key, 0) + region.shape[-2] * region.shape[-1]
        if self.means is not None:
            return self.means[key].to(output.dtype)[..., None, None].expand_as(output)
        return output

    def finish_pass(self) -> None:
        self.means = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def record_means(model: nn.Module, plan: TilePlan, tile_at: TileSource,
                 on_tile: Callable[[], None] | None = None) -> list[torch.Tensor] | None:
    """Pass 1 over every tile: the whole-frame mean of each global pool, in :func:`pool_layers`'s order (or None
    when the network has none, and then no tile is run)."""
    stats = GlobalPoolStats(model)
    try:
        if not stats.pools:
            return None
        stats.recording, stats.tile_h = True, plan.th
        for iy in range(len(plan.ys)):
            for ix in range(len(plan.xs)):
                stats.core = plan.core(iy, ix)
                model(tile_at(iy, ix))
                if on_tile:
                    on_tile()
        stats.finish_pass()
        return [stats.means.get(id(pool)) for pool in stats.pools]  # None: a pool no tile reached
    finally:
        stats.close()


def blend_rows(model, plan: TilePlan, tile_at: TileSource, means: list[torch.Tensor] | None, *, dtype, device,
               start: int = 0, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
               on_tile: Callable[[], None] | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Pass 2, one row of tiles after the other: (first frame row, blended rows) from frame row ``start`` down.

    Each tile's prediction (``reduce``d, e.g. to one channel) is weighted by its window and summed, in the
    plan's order, into accumulators of ``dtype`` on ``device`` that span only the rows still open; rows are
    divided by their summed weights and given out (cropped to the frame) once the next row of tiles starts
    below them, so memory holds a band of two tile rows. ``means`` (from :func:`record_means`) replace every
    global pool's output, so each tile sees the whole frame's statistics.
    """
    stats = _replaying(model, means)
    try:
        first = next(i for i, y in enumerate(plan.ys) if y + plan.th > start)
        lo = plan.ys[first]  # the accumulators' first row, padded-frame coordinates
        out = weight = None
        for iy in range(first, len(plan.ys)):
            y = plan.ys[iy]
            for ix, x in enumerate(plan.xs):
                pred = final_output(model(tile_at(iy, ix)))
                pred = reduce(pred) if reduce else pred
                if out is None:
                    out = torch.zeros((*pred.shape[:-2], 0, plan.pw), dtype=dtype, device=device)
                    weight = torch.zeros((0, plan.pw), dtype=dtype, device=device)
                out, weight = _grown(out, weight, y + plan.th - lo)
                win = plan.window(iy, ix, device, dtype)
                out[..., y - lo : y - lo + plan.th, x : x + plan.tw] += pred * win
                weight[y - lo : y - lo + plan.th, x : x + plan.tw] += win
                if on_tile:
                    on_tile()
            final = plan.ys[iy + 1] if iy + 1 < len(plan.ys) else plan.ph
            done, skip = final - lo, max(0, start - lo)  # skip: rows a resumed caller already has
            rows = (out[..., :done, :] / weight[:done])[..., : max(0, min(done, plan.h - lo)), : plan.w]
            if rows.shape[-2] > skip:
                yield lo + skip, rows[..., skip:, :]
            out, weight, lo = out[..., done:, :].clone(), weight[done:].clone(), final
    finally:
        if stats is not None:
            stats.close()


def _replaying(model, means: list[torch.Tensor] | None) -> GlobalPoolStats | None:
    """Hooks that give every global pool of ``model`` its whole-frame mean (None when there are no means)."""
    if means is None:
        return None
    stats = GlobalPoolStats(model)
    stats.means = {id(pool): mean for pool, mean in zip(stats.pools, means) if mean is not None}
    return stats


def _grown(out: torch.Tensor, weight: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The accumulators with zero rows added below until they hold ``rows`` rows."""
    grow = rows - out.shape[-2]
    if grow <= 0:
        return out, weight
    zeros = out.new_zeros((*out.shape[:-2], grow, out.shape[-1]))
    return torch.cat([out, zeros], dim=-2), torch.cat([weight, weight.new_zeros((grow, weight.shape[-1]))])


@torch.no_grad()
def predict_tiled(
    model: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    tile: int | None = None,
    overlap: int = 64,
    on_tile: Callable[[int, int], None] | None = None,
    stats_passes: int = 2,
) -> torch.Tensor:
    """Run ``model`` over an NCHW ``image`` whole (``tile=None``) or in blended tiles.

    ``stats_passes=2`` shares whole-frame channel statistics between tiles (see the module
    docstring); 1 runs each tile on its own. ``on_tile(done, total)`` reports progress.
    """
    n, c, h, w = image.shape
    align = model.padder_size if isinstance(model, RestorationNetwork) else 1  # a plain function has no stride
    if tile is None or (tile >= h and tile >= w):
        out = predict_whole(model, image, align)
        if on_tile:
            on_tile(1, 1)
        return out
    # Align tiles to the network's size multiple and pad the frame once, as the whole-image
    # forward does, so every tile's feature maps line up with the whole frame's.
    plan = plan_tiles(h, w, tile, overlap, align)
    padded = pad_to_multiple(image, align, mode="reflect")

    def tile_at(iy: int, ix: int) -> torch.Tensor:
        y, x = plan.ys[iy], plan.xs[ix]
        return padded[:, :, y : y + plan.th, x : x + plan.tw]

    shared = stats_passes > 1 and bool(pool_layers(model))
    total, done = (2 if shared else 1) * len(plan.ys) * len(plan.xs), 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_tile:
            on_tile(done, total)

    means = record_means(model, plan, tile_at, tick) if shared else None
    rows = blend_rows(model, plan, tile_at, means, dtype=image.dtype, device=image.device, on_tile=tick)
    return torch.cat([band for _, band in rows], dim=-2)
