"""Random training crops with the paper's flips and rotations.

A batch is a pure function of (seed, iteration, rank): nothing to checkpoint, resumed
runs see exactly the data they would have seen, and each DDP rank gets its own shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import MidnetError
from .local_shift import shifted_target
from .pairs import Pair

LOCAL_MARGIN = 16  # pixels around a crop for its target's Fourier shift: above local_shift.MAX_LOCAL_SHIFT_PX
LOCAL_SPREAD_PX = 0.5  # a crop whose misalignment varies more than this is not registered by one shift
LOCAL_TRIES = 50  # draws before taking a crop one shift cannot register (a frame misaligned everywhere)


def batch_rng(seed: int, iteration: int, rank: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, iteration, rank])


def sample_batch(
    pairs: Sequence[Pair], batch: int, crop: int, seed: int, iteration: int, rank: int = 0, augment: bool = True,
    local_targets: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(blur, sharp) float32 tensors of shape (batch, 1, crop, crop), intensity-normalised per micrograph.

    ``local_targets`` moves each target crop by the misalignment its place in the pair
    still has after registration (:mod:`midnet.data.local_shift`), draws again where that
    misalignment varies across the crop, and keeps crops ``LOCAL_MARGIN`` pixels from the border.
    """
    margin = LOCAL_MARGIN if local_targets else 0
    for p in pairs:
        if min(p.blur.shape) < crop + 2 * margin:
            raise MidnetError(f"{p.name}: {p.blur.shape[1]}x{p.blur.shape[0]} is smaller than the {crop}px crop"
                              + (f" and its {margin}px margins (data.target_shift: local)" if margin else "")
                              + "; lower data.crop")
    rng = batch_rng(seed, iteration, rank)
    areas = np.array([p.blur.size for p in pairs], dtype=np.float64)
    # frames by area: every pixel equally likely (local targets then pass over what one shift cannot register)
    choice = rng.choice(len(pairs), size=batch, p=areas / areas.sum())
    xs, ys = np.empty((batch, 1, crop, crop), np.float32), np.empty((batch, 1, crop, crop), np.float32)
    for i, k in enumerate(choice):
        p = pairs[k]
        top, left = _position(rng, p, crop, margin)
        b = p.blur[top : top + crop, left : left + crop]
        s = _target(p, top, left, crop, margin)
        if augment:  # one of the 8 flips/rotations of the square
            k_rot, flip = int(rng.integers(4)), bool(rng.integers(2))
            b, s = np.rot90(b, k_rot), np.rot90(s, k_rot)
            if flip:
                b, s = b[:, ::-1], s[:, ::-1]
        # both exposures through the blurry frame's percentile map, as the restorer feeds the network
        scale = p.intensity
        xs[i, 0], ys[i, 0] = scale.forward(b), scale.forward(s)
    return torch.from_numpy(xs), torch.from_numpy(ys)


def _position(rng: np.random.Generator, p: Pair, crop: int, margin: int) -> tuple[int, int]:
    """A crop's (top, left); with local targets, one where a single shift registers the crop, when there is one."""
    for _ in range(LOCAL_TRIES if margin else 1):
        top = int(rng.integers(margin, p.blur.shape[0] - crop - margin + 1))
        left = int(rng.integers(margin, p.blur.shape[1] - crop - margin + 1))
        if not margin or p.local_shifts.spread(top, left, crop) <= LOCAL_SPREAD_PX:
            break
    return top, left


def _target(p: Pair, top: int, left: int, crop: int, margin: int) -> np.ndarray:
    """The sharp crop at (top, left); with a margin, moved by the local misalignment at its centre."""
    if not margin:
        return p.sharp[top : top + crop, left : left + crop]
    window = p.sharp[top - margin : top + crop + margin, left - margin : left + crop + margin]
    return shifted_target(window, p.local_shifts.at(top + crop / 2, left + crop / 2), margin)
