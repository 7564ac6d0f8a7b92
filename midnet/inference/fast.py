"""An inference copy of a NAFNet/MIDNet that computes the same function with fewer operations.

Exact algebra, no approximation:
- a LayerNorm's affine ``w * n + b`` feeds a 1x1 convolution ``W y + c``: folded into
  ``(W diag(w)) n + (W b + c)``, so the norm only normalises;
- the residual scales ``beta`` and ``gamma`` multiply the output of a 1x1 convolution:
  folded into that convolution's weight and bias.
The copy runs in channels-last memory layout, which suits the many 1x1 convolutions on CPU.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .cache import weights_sha256
from ..models.blocks import LayerNorm2d, MIDBlock, layer_norm_2d


class _Normalise(nn.Module):
    """LayerNorm2d without its affine (folded into the next convolution)."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm_2d(x, None, None, self.eps)


class _FusedBlock(nn.Module):
    """A MID-Block with norms' affines and beta/gamma folded into its 1x1 convolutions."""

    def __init__(self, block: MIDBlock):
        super().__init__()
        with torch.no_grad():
            self.norm1, self.norm2 = _Normalise(block.norm1.eps), _Normalise(block.norm2.eps)
            self.conv1 = _fold_affine(block.norm1, block.conv1)
            self.conv4 = _fold_affine(block.norm2, block.conv4)
            self.conv3 = _fold_scale(block.conv3, block.beta)
            self.conv5 = _fold_scale(block.conv5, block.gamma)
        self.conv2, self.sca = block.conv2, block.sca

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(self.norm1(inp)))
        x1, x2 = x.chunk(2, dim=1)
        x = x1 * x2
        y = inp + self.conv3(x * self.sca(x))
        x1, x2 = self.conv4(self.norm2(y)).chunk(2, dim=1)
        return y + self.conv5(x1 * x2)


def _fold_affine(norm: LayerNorm2d, conv: nn.Conv2d) -> nn.Conv2d:
    fused = copy.deepcopy(conv)
    w = conv.weight  # (out, in, 1, 1)
    fused.weight.copy_(w * norm.weight.view(1, -1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
    extra = (w[:, :, 0, 0] @ norm.bias.view(-1, 1)).view(-1)
    if fused.bias is None:
        fused.bias = nn.Parameter(bias + extra)
    else:
        fused.bias.copy_(bias + extra)
    return fused


def _fold_scale(conv: nn.Conv2d, scale: torch.Tensor) -> nn.Conv2d:
    fused = copy.deepcopy(conv)
    s = scale.view(-1)
    fused.weight.copy_(conv.weight * s.view(-1, 1, 1, 1))
    if fused.bias is not None:
        fused.bias.copy_(conv.bias * s)
    return fused


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """A fused, channels-last, eval-mode copy of ``model`` (the original is left untouched)."""
    fast = copy.deepcopy(model).eval()
    for name, module in list(fast.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, MIDBlock) and isinstance(child.dropout1, nn.Identity):
                setattr(module, child_name, _FusedBlock(child))
    for p in fast.parameters():
        p.requires_grad_(False)
    fast = fast.to(memory_format=torch.channels_last)
    fast._midnet_fast = True
    # the fused weights differ from the source's: exports and caches name the source's (midnet/inference/cache.py)
    fast._midnet_source_sha256 = weights_sha256(model)
    return fast


def inference_copy(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` for inference; the fused copy where this module applies."""
    from ..models import NAFNet

    if isinstance(model, NAFNet):
        return model if getattr(model, "_midnet_fast", False) else optimize_for_inference(model)
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
