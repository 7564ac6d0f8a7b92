"""The MIDNet training loss (paper Eqs. 9-12): ``L = L1 + 0.05 * edge + 0.01 * FFT``.

Each term is a module usable alone; :class:`RestorationLoss` combines them with the
weights of a :class:`LossConfig` (a weight of 0 switches a term off and skips its cost).
Images are float tensors in [0, 1], NCHW.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class LossConfig(BaseModel):
    """Weights and variants of the loss terms."""

    model_config = ConfigDict(extra="forbid")

    l1: float = Field(1.0, ge=0, le=100, description="Weight of the pixel L1 term (the paper's L_d).")
    edge: float = Field(0.05, ge=0, le=100, description="Weight of the edge term (lambda1 = 0.05 in the paper).")
    fft: float = Field(0.01, ge=0, le=100, description="Weight of the FFT term (lambda2 = 0.01 in the paper).")
    edge_operator: Literal["log", "sobel"] = Field(
        "log", description="Edge map: MPRNet's Laplacian of Gaussian ('log') or Sobel gradients ('sobel')."
    )
    charbonnier_eps: float = Field(1e-3, gt=0, le=1, description="Charbonnier epsilon of the edge distance.")
    fft_norm: Literal["ortho", "backward"] = Field(
        "ortho",
        description="DFT scaling: 'ortho' keeps the term independent of crop size; 'backward' is the "
        "unnormalised DFT, which makes it H*W times larger.",
    )
    fft_weighting: Literal["none", "radial"] = Field(
        "none", description="Frequency weight w(u,v): 'none' (w=1) or 'radial' (1 + |f|/|f|max, favours detail)."
    )


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt((a-b)^2 + eps^2) - eps: a smooth L1, shifted so equal inputs give exactly 0."""
    return (torch.sqrt((a - b) ** 2 + eps * eps) - eps).mean()


class EdgeLoss(nn.Module):
    """Charbonnier distance between edge maps of restored and ground-truth images.

    ``"log"`` follows MPRNet (Zamir et al. 2021): the edge map is the image minus its
    Gaussian-blurred, decimated and re-expanded copy (one Laplacian-pyramid level, a
    Laplacian of Gaussian). ``"sobel"`` uses horizontal and vertical Sobel gradients.
    """

    def __init__(self, operator: Literal["log", "sobel"] = "log", eps: float = 1e-3):
        super().__init__()
        if operator not in ("log", "sobel"):
            raise ValueError(f"edge operator must be 'log' or 'sobel', got {operator!r}")
        self.operator = operator
        self.eps = eps
        k = torch.tensor([0.05, 0.25, 0.4, 0.25, 0.05])
        self.register_buffer("gauss", torch.outer(k, k)[None, None], persistent=False)
        sobel_x = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8
        self.register_buffer("sobel", torch.stack([sobel_x, sobel_x.T])[:, None], persistent=False)

    def _blur(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (2, 2, 2, 2), mode="replicate")
        return F.conv2d(x, self.gauss.to(x.dtype).expand(c, 1, 5, 5), groups=c)

    def edges(self, x: torch.Tensor) -> torch.Tensor:
        if self.operator == "sobel":
            c = x.shape[1]
            xp = F.pad(x, (1, 1, 1, 1), mode="replicate")
            return F.conv2d(xp, self.sobel.to(x.dtype).repeat(c, 1, 1, 1), groups=c)
        filtered = self._blur(x)
        expanded = torch.zeros_like(filtered)
        expanded[..., ::2, ::2] = filtered[..., ::2, ::2] * 4
        return x - self._blur(expanded)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return charbonnier(self.edges(pred), self.edges(target), self.eps)


class FFTLoss(nn.Module):
    """Paper Eq. 12: ``(1/(W H)) * sum_uv w(u,v) |F(I_r)(u,v) - F(I_gt)(u,v)|^2``.

    Averaged over batch and channels. The DFT is linear, so one transform of the
    difference replaces two. With w = 1 and ``norm="ortho"`` this equals the pixel MSE
    (Parseval); ``norm="backward"`` (numpy's default DFT) is H*W times that.
    """

    def __init__(self, norm: Literal["ortho", "backward"] = "ortho", weighting: Literal["none", "radial"] = "none"):
        super().__init__()
        self.norm = norm
        self.weighting = weighting

    @staticmethod
    def radial_weight(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """w(u,v) = 1 + |f| / max|f|, f the DFT sample frequencies: 1 at DC, 2 at the corner."""
        fy = torch.fft.fftfreq(h, device=device, dtype=dtype)[:, None]
        fx = torch.fft.fftfreq(w, device=device, dtype=dtype)[None, :]
        r = torch.sqrt(fy**2 + fx**2)
        return 1 + r / r.max().clamp_min(1e-12)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = (pred - target).float()  # FFTs in half precision lose too much
        power = torch.fft.fft2(diff, norm=self.norm).abs().pow(2)
        if self.weighting == "radial":
            power = power * self.radial_weight(*diff.shape[-2:], device=diff.device)
        return power.mean()


class RestorationLoss(nn.Module):
    """``l1 * L1 + edge * EdgeLoss + fft * FFTLoss``; returns the total and each weighted term."""

    def __init__(self, config: LossConfig | None = None):
        super().__init__()
        self.config = config or LossConfig()
        self.edge_loss = EdgeLoss(self.config.edge_operator, self.config.charbonnier_eps)
        self.fft_loss = FFTLoss(self.config.fft_norm, self.config.fft_weighting)
        if self.config.l1 == self.config.edge == self.config.fft == 0:
            raise ValueError("all loss weights are 0: nothing to train on")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        terms: dict[str, torch.Tensor] = {}
        if c.l1:
            terms["l1"] = c.l1 * F.l1_loss(pred, target)
        if c.edge:
            terms["edge"] = c.edge * self.edge_loss(pred, target)
        if c.fft:
            terms["fft"] = c.fft * self.fft_loss(pred, target)
        total = sum(terms.values())
        return total, terms
