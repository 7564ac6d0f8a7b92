"""The deconvolution a lab tries first: Wiener, Richardson-Lucy and unsharp masking.

scikit-image does the filtering; midnet adds the point-spread function and parameters,
fitted on training pairs by maximising PSNR (:mod:`midnet.quality.calibration`), so the comparison
with the networks is fair: the classical methods are tuned on the same data the networks saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..choices import CLASSICAL_METHODS, INPUT
from ..errors import MidnetError, one_line

ClassicalMethod = Literal[CLASSICAL_METHODS]  # the names of midnet/choices.py, for pydantic and type checkers


class ClassicalParams(BaseModel):
    """Fitted parameters of the classical restorers (a Gaussian PSF model of defocus)."""

    model_config = ConfigDict(extra="forbid")

    psf_sigma: float = Field(3.0, gt=0, le=64, description="Gaussian PSF standard deviation, pixels.")
    wiener_balance: float = Field(0.05, gt=0, le=100, description="Wiener regularisation (noise-to-signal).")
    rl_iterations: int = Field(10, ge=1, le=500, description="Richardson-Lucy iterations.")
    unsharp_radius: float = Field(3.0, gt=0, le=64, description="Unsharp mask Gaussian radius, pixels.")
    unsharp_amount: float = Field(1.0, ge=0, le=50, description="Unsharp mask amount.")
    fitted_on: list[str] = Field(default_factory=list, description="Micrographs the values were fitted on.")

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write the JSON in one step; an existing file is replaced only with ``overwrite``."""
        from ..images.publish import OutputExists, atomic_write

        try:
            with atomic_write(path, replace=overwrite) as tmp:
                Path(tmp).write_text(self.model_dump_json(indent=2))
        except OutputExists:
            raise MidnetError(f"{path} exists; choose another -o or pass --overwrite") from None

    @classmethod
    def load(cls, path: str | Path) -> "ClassicalParams":
        try:
            return cls.model_validate_json(Path(path).read_text())
        except FileNotFoundError:
            raise MidnetError(f"{path}: no such calibration file; make one with 'midnet calibrate'") from None
        except ValueError as exc:
            raise MidnetError(f"{path}: not a midnet calibration file ({one_line(exc, limit=200)})") from exc


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


def restore(image: np.ndarray, method: ClassicalMethod, params: ClassicalParams) -> np.ndarray:
    """Restore a gray float image in [0, 1] with a classical method."""
    # Imported here, not at the top: the command line reads the method names from this
    # module at start-up, and scikit-image's restoration modules take a second to import.
    from skimage.filters import unsharp_mask
    from skimage.restoration import richardson_lucy, wiener

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
        raise MidnetError(f"unknown method {method!r}; use {', '.join(CLASSICAL_METHODS)}")
    return np.clip(out, 0, 1).astype(np.float32)


def default_params() -> ClassicalParams:
    """The built-in values, fitted on the seven shared SEM pairs (see docs/results.md)."""
    path = Path(__file__).parents[1] / "pretrained" / "classical.json"  # midnet/pretrained
    return ClassicalParams.load(path) if path.is_file() else ClassicalParams()

