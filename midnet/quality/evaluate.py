"""Scoring a restorer on whole micrographs: PSNR and SSIM of the restored and the blurry input.

Honest by construction: whole frames are restored (tiled if asked), the output is
quantised to the files' own bit depth as a saved result would be, the info bar is
excluded, and a shift between the two exposures is measured on the blurry/sharp pair
alone (never on a method's output) and removed the same way for every method.

``region="registered"`` is a diagnostic beside that protocol, never instead of it: it
scores only the squares of the frame where the registered pair lines up to half a pixel
(:func:`midnet.data.local_shift.registered_mask`, measured on the pair alone), so a method
that restores sharper detail is not charged for the part of the frame, such as where an
SEM's scan lines start, that one affine map cannot register.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from ..choices import REGIONS, REGISTERED_PATCH, REGISTERED_PX
from ..data.local_shift import registered_mask
from ..data.pairs import Pair
from ..data.register import MAX_SHIFT_PX, align_to
from ..errors import MidnetError
from .metrics import psnr, ssim
from ..inference.restore import make_restorer
from ..inference.settings import RestoreSettings

Restorer = Callable[[np.ndarray], np.ndarray]
SCORES = ("psnr", "ssim", "input_psnr", "input_ssim")


def quantise(image: np.ndarray, full_scale: float) -> np.ndarray:
    """Clip to [0, 1] and round to the grid of a file with this full-scale value."""
    image = np.clip(image, 0.0, 1.0)
    if full_scale > 1:
        image = np.round(image * full_scale) / full_scale
    return image


def score_pair(restored: np.ndarray, pair: Pair, align: bool = True, region: str = "all") -> dict[str, Any]:
    """PSNR/SSIM of ``restored`` and of the blurry input against the sharp frame of ``pair``.

    With ``region="registered"`` only the registered squares are scored, and the result
    says what fraction of the frame they are (``scored_fraction``).
    """
    if region not in REGIONS:
        raise MidnetError(f"region must be one of {', '.join(REGIONS)}, got {region!r}")
    blur, sharp = pair.blur, pair.sharp
    if align and not pair.aligned and max(abs(v) for v in pair.shift) > MAX_SHIFT_PX:
        restored_a, sharp_a = align_to(restored, sharp, pair.shift)
        blur, sharp = align_to(blur, sharp, pair.shift)
        restored = restored_a
    mask = registered_mask(blur, sharp) if region == "registered" else None
    if mask is not None and not mask.any():
        raise MidnetError(f"{pair.name}: no {REGISTERED_PATCH} px square of the pair lines up to {REGISTERED_PX} px, "
                          "so --region registered has nothing to score; register the pair (--align affine) or "
                          "score it with --region all")
    scores = {
        "name": pair.name,
        "psnr": psnr(sharp, restored, data_range=1.0, mask=mask),
        "ssim": ssim(sharp, restored, data_range=1.0, mask=mask),
        "input_psnr": psnr(sharp, blur, data_range=1.0, mask=mask),
        "input_ssim": ssim(sharp, blur, data_range=1.0, mask=mask),
    }
    if mask is not None:
        scores["scored_fraction"] = float(mask.mean())
    return scores


def score_restorer(
    restore: Restorer, pairs: Sequence[Pair], align: bool = True, on_image=None, region: str = "all"
) -> dict[str, Any]:
    """Score any ``restore(gray) -> gray`` function (network or classical) on every pair and the mean."""
    images = []
    for pair in pairs:
        restored = quantise(restore(pair.blur), pair.full_scale)
        images.append(score_pair(restored, pair, align, region))
        if on_image:
            on_image(images[-1])
    keys = SCORES + (("scored_fraction",) if region == "registered" else ())
    mean = {k: float(np.mean([im[k] for im in images])) for k in keys}
    return {"images": images, "mean": mean}


def score_pairs(
    model: nn.Module, pairs: Sequence[Pair], tile: int | None = None, align: bool = True, on_image=None
) -> dict[str, Any]:
    """:func:`score_restorer` for a network (on the device its weights are on; the network is not changed)."""
    return score_restorer(make_restorer(RestoreSettings.exact(model=model, tile=tile)), pairs, align, on_image)
