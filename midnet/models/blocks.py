"""Building blocks shared by the U-Net restorers (NAFNet, MIDNet).

Names follow the papers: a MID-Block is the NAFNet block (Chen et al. 2022), kept
activation-free; the attention gate is Oktay et al. 2018's additive gate as
docs/spec reads MIDNet's Eqs. 7-8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channel axis of an NCHW tensor.

    Parameters are named ``weight`` and ``bias`` as in the official NAFNet code, so its
    checkpoints load unchanged; autograd replaces the official hand-written backward.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm_2d(x, self.weight, self.bias, self.eps)


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None, eps: float) -> torch.Tensor:
    """Normalise an NCHW tensor over its channels (then ``weight * y + bias`` if given).

    On a channels-last tensor the channels are the innermost axis, so ATen's fused
    ``layer_norm`` kernel applies to a free NHWC view: one pass forward and backward
    instead of the half-dozen tensors the formula below allocates (the training and
    inference fast paths use it). NCHW tensors take the formula of the official code.
    """
    if x.dim() == 4 and x.shape[1] > 1 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps)
        return y.permute(0, 3, 1, 2)
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    y = (x - mu) / (var + eps).sqrt()
    if weight is not None:
        y = weight.view(1, -1, 1, 1) * y
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them: the block's only non-linearity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return x1 * x2


class MIDBlock(nn.Module):
    """The activation-free block (NAFNet's ``NAFBlock``; the MIDNet paper's MID-Block).

    Spatial part: LayerNorm -> 1x1 (c->2c) -> 3x3 depthwise -> SimpleGate ->
    Simplified Channel Attention -> 1x1 (c->c), added back scaled by ``beta``.
    Channel part: LayerNorm -> 1x1 (c->2c) -> SimpleGate -> 1x1, scaled by ``gamma``.
    beta and gamma start at zero, so every block starts as the identity.
    ``padding_mode`` is the depthwise convolution's: the official ``zeros``, or ``reflect`` (see NAFNet).
    """

    def __init__(self, c: int, DW_Expand: int = 2, FFN_Expand: int = 2, drop_out_rate: float = 0.0,
                 padding_mode: str = "zeros"):
        super().__init__()
        dw_channel = c * DW_Expand
        self.conv1 = nn.Conv2d(c, dw_channel, kernel_size=1)
        self.conv2 = nn.Conv2d(dw_channel, dw_channel, kernel_size=3, padding=1, groups=dw_channel,
                               padding_mode=padding_mode)
        self.conv3 = nn.Conv2d(dw_channel // 2, c, kernel_size=1)
        # Simplified Channel Attention: global average pool, then one 1x1 conv, no sigmoid.
        self.sca = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dw_channel // 2, dw_channel // 2, kernel_size=1),
        )
        self.sg = SimpleGate()

        ffn_channel = FFN_Expand * c
        self.conv4 = nn.Conv2d(c, ffn_channel, kernel_size=1)
        self.conv5 = nn.Conv2d(ffn_channel // 2, c, kernel_size=1)

        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()

        self.beta = nn.Parameter(torch.zeros((1, c, 1, 1)))
        self.gamma = nn.Parameter(torch.zeros((1, c, 1, 1)))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.norm1(inp)
        x = self.conv1(x)
        x = self.conv2(x)
        x = self.sg(x)
        x = x * self.sca(x)
        x = self.conv3(x)
        y = inp + self.dropout1(x) * self.beta

        x = self.conv4(self.norm2(y))
        x = self.sg(x)
        x = self.conv5(x)
        return y + self.dropout2(x) * self.gamma


class AddSkip(nn.Module):
    """Plain skip fusion of NAFNet: decoder feature + encoder feature. No parameters."""

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return g + x


class AttentionGate(nn.Module):
    """Soft attention gate on an encoder-decoder skip (Oktay et al. 2018).

    ``x`` is the encoder skip feature, ``g`` the upsampled decoder feature of the same
    size. ``alpha = sigmoid(psi(relu(W_x x + W_g g)))`` is one weight per pixel saying
    how relevant the encoder feature is to the decoder state; the fused feature is
    ``g + alpha * x``. The ReLU and sigmoid live here only, never in the MID-Blocks.
    """

    def __init__(self, c: int):
        super().__init__()
        inter = max(c // 2, 1)
        self.W_x = nn.Conv2d(c, inter, kernel_size=1, bias=False)
        self.W_g = nn.Conv2d(c, inter, kernel_size=1, bias=True)
        self.psi = nn.Conv2d(inter, 1, kernel_size=1, bias=True)

    def attention(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The gate's map alpha in (0, 1), shape (N, 1, H, W)."""
        return torch.sigmoid(self.psi(F.relu(self.W_x(x) + self.W_g(g))))

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return g + self.attention(g, x) * x


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "zeros") -> torch.Tensor:
    """Pad the bottom and right of an NCHW tensor to a multiple of ``multiple``.

    ``zeros`` as the official NAFNet ``check_image_size`` does (official checkpoints give
    the same output on any size); ``reflect`` for networks whose official test code
    reflects (a side too short to reflect is replicated).
    """
    h, w = x.shape[-2:]
    pad_h = (multiple - h % multiple) % multiple
    pad_w = (multiple - w % multiple) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    if mode == "zeros":
        return F.pad(x, (0, pad_w, 0, pad_h))
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
