"""Scoring a restorer on whole micrographs: PSNR and SSIM of the restored and the blurry input.

Honest by construction: whole frames are restored (tiled if asked), the output is
quantised to the files' own bit depth as a saved result would be, the info bar is
excluded, and a shift between the two exposures is measured on the blurry/sharp pair
alone (never on a method's output) and removed the same way for every method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from .data.pairs import Pair
from .data.register import MAX_SHIFT_PX, align_to
from .metrics import psnr, ssim
from .restore import make_restorer

Restorer = Callable[[np.ndarray], np.ndarray]


def quantise(image: np.ndarray, full_scale: float) -> np.ndarray:
    """Clip to [0, 1] and round to the grid of a file with this full-scale value."""
    image = np.clip(image, 0.0, 1.0)
    if full_scale > 1:
        image = np.round(image * full_scale) / full_scale
    return image


def score_pair(restored: np.ndarray, pair: Pair, align: bool = True) -> dict[str, Any]:
    """PSNR/SSIM of ``restored`` and of the blurry input against the sharp frame of ``pair``."""
    blur, sharp = pair.blur, pair.sharp
    if align and not pair.aligned and max(abs(v) for v in pair.shift) > MAX_SHIFT_PX:
        restored_a, sharp_a = align_to(restored, sharp, pair.shift)
        blur, sharp = align_to(blur, sharp, pair.shift)
        restored = restored_a
    return {
        "name": pair.name,
        "psnr": psnr(sharp, restored, data_range=1.0),
        "ssim": ssim(sharp, restored, data_range=1.0),
        "input_psnr": psnr(sharp, blur, data_range=1.0),
        "input_ssim": ssim(sharp, blur, data_range=1.0),
    }


def score_restorer(restore: Restorer, pairs: Sequence[Pair], align: bool = True, on_image=None) -> dict[str, Any]:
    """Score any ``restore(gray) -> gray`` function (network or classical) on every pair and the mean."""
    images = []
    for pair in pairs:
        restored = quantise(restore(pair.blur), pair.full_scale)
        images.append(score_pair(restored, pair, align))
        if on_image:
            on_image(images[-1])
    keys = ("psnr", "ssim", "input_psnr", "input_ssim")
    mean = {k: float(np.mean([im[k] for im in images])) for k in keys}
    return {"images": images, "mean": mean}


def score_pairs(
    model: nn.Module, pairs: Sequence[Pair], tile: int | None = None, align: bool = True, on_image=None
) -> dict[str, Any]:
    """:func:`score_restorer` for a network (on the device its weights are on; the network is not changed)."""
    return score_restorer(make_restorer(model, tile=tile), pairs, align, on_image)
