"""Fit the classical methods' PSF and parameters on training pairs, by maximising PSNR.

A grid search per method: the Wiener filter fixes the Gaussian PSF (coarse grid, then a
finer one around the best), Richardson-Lucy reuses that PSF and picks its iterations,
unsharp masking has its own radius and amount.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ..inference.classical import CLASSICAL_METHODS, ClassicalMethod, ClassicalParams, restore
from ..data.pairs import Pair
from ..errors import MidnetError
from .metrics import psnr

CALIBRATION_CROP = 512  # the parameters are global: a central crop fits them as well as the frame, in less time


def calibrate(pairs: Sequence[Pair], methods: Sequence[ClassicalMethod] = CLASSICAL_METHODS) -> ClassicalParams:
    """Fit the PSF and each method's parameters by maximising mean PSNR on aligned ``pairs``.

    Coarse grids, then a finer one around the best.
    """
    if not pairs:
        raise MidnetError("calibration needs at least one pair")
    params = ClassicalParams(fitted_on=[p.name for p in pairs])
    pairs = [_centre(p, CALIBRATION_CROP) for p in pairs]
    if "wiener" in methods or "richardson-lucy" in methods:
        params = _search(pairs, "wiener", params, {"psf_sigma": [1, 2, 3, 4, 6, 8, 11, 15], "wiener_balance": np.logspace(-3, 3, 13)})
        s, b = params.psf_sigma, params.wiener_balance
        params = _search(pairs, "wiener", params,
                         {"psf_sigma": s * np.array([0.8, 0.9, 1, 1.1, 1.25]), "wiener_balance": b * np.logspace(-0.4, 0.4, 5)})
    if "richardson-lucy" in methods:
        params = _search(pairs, "richardson-lucy", params, {"rl_iterations": [2, 5, 10, 20, 40]})
    if "unsharp" in methods:
        params = _search(pairs, "unsharp", params, {"unsharp_radius": [1, 2, 4, 8, 12], "unsharp_amount": [0.5, 1, 2, 4]})
    return params


def _centre(pair: Pair, size: int) -> Pair:
    h, w = pair.blur.shape
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    sl = (slice(top, top + size), slice(left, left + size))
    return dataclasses.replace(pair, blur=pair.blur[sl], sharp=pair.sharp[sl])


def _search(pairs: Sequence[Pair], method: ClassicalMethod, base: ClassicalParams,
            grid: dict[str, Sequence[float]]) -> ClassicalParams:
    best, best_score = base, -np.inf
    keys = list(grid)
    for values in np.array(np.meshgrid(*[grid[k] for k in keys])).reshape(len(keys), -1).T:
        cand = base.model_copy(update={k: (int(v) if k == "rl_iterations" else float(v)) for k, v in zip(keys, values)})
        score = _mean_psnr(pairs, method, cand)
        if score > best_score:
            best, best_score = cand, score
    return best


def _mean_psnr(pairs: Sequence[Pair], method: ClassicalMethod, params: ClassicalParams) -> float:
    return float(np.mean([psnr(p.sharp, restore(p.blur, method, params), data_range=1.0) for p in pairs]))
