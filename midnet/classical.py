"""The deconvolution a lab tries first: Wiener, Richardson-Lucy and unsharp masking.

scikit-image does the filtering; midnet adds the point-spread function and parameters,
fitted on training pairs by maximising PSNR (``calibrate``), so the comparison with the
networks is fair: the classical methods are tuned on the same data the networks saw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from skimage.filters import unsharp_mask
from skimage.restoration import richardson_lucy, wiener

from .data.pairs import Pair
from .errors import MidnetError
from .metrics import psnr

Method = Literal["wiener", "richardson-lucy", "unsharp"]


class ClassicalParams(BaseModel):
    """Fitted parameters of the classical restorers (a Gaussian PSF model of defocus)."""

    model_config = ConfigDict(extra="forbid")

    psf_sigma: float = Field(3.0, gt=0, le=64, description="Gaussian PSF standard deviation, pixels.")
    wiener_balance: float = Field(0.05, gt=0, le=100, description="Wiener regularisation (noise-to-signal).")
    rl_iterations: int = Field(10, ge=1, le=500, description="Richardson-Lucy iterations.")
    unsharp_radius: float = Field(3.0, gt=0, le=64, description="Unsharp mask Gaussian radius, pixels.")
    unsharp_amount: float = Field(1.0, ge=0, le=50, description="Unsharp mask amount.")
    fitted_on: list[str] = Field(default_factory=list, description="Micrographs the values were fitted on.")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "ClassicalParams":
        try:
            return cls.model_validate_json(Path(path).read_text())
        except FileNotFoundError:
            raise MidnetError(f"{path}: no such calibration file; make one with 'midnet calibrate'") from None
        except ValueError as exc:
            raise MidnetError(f"{path}: not a midnet calibration file ({' '.join(str(exc).split())[:200]})") from exc


def gaussian_psf(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    ax = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (ax / sigma) ** 2)
    psf = np.outer(g, g)
    return psf / psf.sum()


def _padded(image: np.ndarray, pad: int, fn) -> np.ndarray:
    # Reflect-pad so the FFT's periodic boundary does not ring at the frame edges.
    padded = np.pad(image.astype(np.float64), pad, mode="reflect")
    return fn(padded)[pad:-pad, pad:-pad]


def restore(image: np.ndarray, method: Method, params: ClassicalParams) -> np.ndarray:
    """Restore a gray float image in [0, 1] with a classical method."""
    psf = gaussian_psf(params.psf_sigma)
    pad = psf.shape[0]
    if method == "wiener":
        out = _padded(image, pad, lambda a: wiener(a, psf, params.wiener_balance, clip=False))
    elif method == "richardson-lucy":
        out = _padded(image, pad, lambda a: richardson_lucy(np.clip(a, 1e-6, None), psf, params.rl_iterations, clip=False))
    elif method == "unsharp":
        out = unsharp_mask(image.astype(np.float64), radius=params.unsharp_radius, amount=params.unsharp_amount,
                           preserve_range=True)
    else:
        raise MidnetError(f"unknown method {method!r}; use wiener, richardson-lucy or unsharp")
    return np.clip(out, 0, 1).astype(np.float32)


def _mean_psnr(pairs: Sequence[Pair], method: Method, params: ClassicalParams) -> float:
    return float(np.mean([psnr(p.sharp, restore(p.blur, method, params), data_range=1.0) for p in pairs]))


CALIBRATION_CROP = 512  # the parameters are global: a central crop fits them 4x faster than the frame


def _centre(pair: Pair, size: int) -> Pair:
    h, w = pair.blur.shape
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    sl = (slice(top, top + size), slice(left, left + size))
    return dataclasses.replace(pair, blur=pair.blur[sl], sharp=pair.sharp[sl])


def _search(pairs, method, base: ClassicalParams, grid: dict[str, Sequence[float]]) -> ClassicalParams:
    best, best_score = base, -np.inf
    keys = list(grid)
    for values in np.array(np.meshgrid(*[grid[k] for k in keys])).reshape(len(keys), -1).T:
        cand = base.model_copy(update={k: (int(v) if k == "rl_iterations" else float(v)) for k, v in zip(keys, values)})
        score = _mean_psnr(pairs, method, cand)
        if score > best_score:
            best, best_score = cand, score
    return best


def calibrate(pairs: Sequence[Pair], methods: Sequence[Method] = ("wiener", "richardson-lucy", "unsharp")) -> ClassicalParams:
    """Fit the PSF and each method's parameters by maximising mean PSNR on aligned ``pairs``.

    Coarse grids, then a finer one around the best; a few seconds per micrograph.
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


def default_params() -> ClassicalParams:
    """The built-in values, fitted on the seven shared SEM pairs (see docs/results.md)."""
    path = Path(__file__).parent / "pretrained" / "classical.json"
    return ClassicalParams.load(path) if path.is_file() else ClassicalParams()

