"""Random training crops with the paper's flips and rotations.

A batch is a pure function of (seed, iteration, rank): nothing to checkpoint, resumed
runs see exactly the data they would have seen, and each DDP rank gets its own shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..images import intensity
from ..errors import MidnetError
from .degrade import SyntheticPairs, degraded_crop, draw, quantised, smooth_field
from .local_shift import shifted_target
from .pairs import Pair

LOCAL_MARGIN = 16  # pixels around a crop for its target's Fourier shift: above local_shift.MAX_LOCAL_SHIFT_PX
LOCAL_SPREAD_PX = 0.5  # a crop whose misalignment varies more than this is not registered by one shift
LOCAL_TRIES = 50  # draws before taking a crop one shift cannot register (a frame misaligned everywhere)


def batch_rng(seed: int, iteration: int, rank: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, iteration, rank])


def sample_batch(
    pairs: Sequence[Pair], batch: int, crop: int, seed: int, iteration: int, rank: int = 0, augment: bool = True,
    local_targets: bool = False, synthetic: SyntheticPairs | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(blur, sharp) float32 tensors of shape (batch, 1, crop, crop), intensity-normalised per micrograph.

    ``local_targets`` moves each target crop by the misalignment its place in the pair
    still has after registration (:mod:`midnet.data.local_shift`), draws again where that
    misalignment varies across the crop, and keeps crops ``LOCAL_MARGIN`` pixels from the border.
    ``synthetic`` replaces a share of the crops by synthetic pairs made from the same frames'
    in-focus exposures (:mod:`midnet.data.degrade`).
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
    made_up = rng.random(batch) < synthetic.share if synthetic is not None else np.zeros(batch, bool)
    for i, k in enumerate(choice):
        p = pairs[k]
        top, left = _position(rng, p, crop, margin)
        if made_up[i] and rng.random() < synthetic.smooth_share:
            b, s, scale = _smooth_pair(rng, p, crop, synthetic)
        elif made_up[i]:  # the target is the sharp crop as it is: the input was made from it, nothing to register
            s = p.sharp[top : top + crop, left : left + crop]
            b, scale = _synthetic_input(rng, p, top, left, crop, synthetic)
        else:
            s = _target(p, top, left, crop, margin)
            b, scale = p.blur[top : top + crop, left : left + crop], p.intensity
        if augment:  # one of the 8 flips/rotations of the square
            k_rot, flip = int(rng.integers(4)), bool(rng.integers(2))
            b, s = np.rot90(b, k_rot), np.rot90(s, k_rot)
            if flip:
                b, s = b[:, ::-1], s[:, ::-1]
        # both exposures through the input frame's percentile map, as the restorer feeds the network
        xs[i, 0], ys[i, 0] = scale.forward(b), scale.forward(s)
    return torch.from_numpy(xs), torch.from_numpy(ys)


def _synthetic_input(rng: np.random.Generator, p: Pair, top: int, left: int, crop: int,
                     synthetic: SyntheticPairs):
    """The sharp crop's degraded twin and the percentile map the restorer would measure on its frame.

    A frame blurred to the real pairs' width has about the blurry exposure's percentiles and an
    unblurred one the sharp exposure's; each synthetic crop takes one of the two maps at random,
    so the network meets both scales at every width.
    """
    d = draw(rng, synthetic)
    b = degraded_crop(p.sharp, top, left, crop, d, rng, p.full_scale)
    return b, (p.intensity if rng.random() < 0.5 else p.sharp_intensity)


def _smooth_pair(rng: np.random.Generator, p: Pair, crop: int, synthetic: SyntheticPairs):
    """(noisy field, field, the map the restorer would measure on a frame that is this field)."""
    d = draw(rng, synthetic)
    field = quantised(smooth_field(rng, crop), p.full_scale)  # the target, in the file's grey levels  # only its noise level counts: a PSF leaves a smooth field as it is
    noisy = d.add_noise(field, rng, p.full_scale)
    return noisy, field, intensity.measure(noisy)


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
