"""Restormer (Zamir et al., "Restormer: Efficient Transformer for High-Resolution Image
Restoration", CVPR 2022).

A 4-level U-Net of Transformer blocks. Each block is multi-Dconv head transposed attention
(MDTA) then a gated-Dconv feed-forward network (GDFN), both pre-normalised and residual.
MDTA attends across channels, not pixels: its attention map is C x C, so the cost grows
linearly with the image area and the network runs on full-resolution images.

Written from the paper. Constructor keywords, parameter names and shapes follow the
official swz30/Restormer code (``basicsr/models/archs/restormer_arch.py``), so an official
checkpoint's ``params`` loads with ``strict=True`` and gives the official output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import pad_to_multiple

# Three 2x downsamplings: the padded image must divide by 2**3.
_SIZE_MULTIPLE = 8
# Official checkpoints were trained with this epsilon in both layer norms.
_NORM_EPS = 1e-5


class BiasFreeLayerNorm(nn.Module):
    """Scale each token by its standard deviation and a learned per-channel gain; no shift.

    As in the official code, the variance is taken about the mean but the token is not
    centred, so this is not ``nn.LayerNorm(bias=False)``. Kept so that official
    ``LayerNorm_type='BiasFree'`` checkpoints (the denoising models) give their outputs.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(-1, keepdim=True, unbiased=False)
        return x / torch.sqrt(var + _NORM_EPS) * self.weight


class TokenLayerNorm(nn.Module):
    """Layer normalisation of every pixel's C-vector (the pixel is the token), for NCHW input.

    ``LayerNorm_type`` is ``'WithBias'`` (a standard layer norm) or ``'BiasFree'``. The norm
    sits in ``body`` so parameter names are the official ``normX.body.weight``.
    """

    def __init__(self, dim: int, LayerNorm_type: str = "WithBias"):
        super().__init__()
        if LayerNorm_type == "WithBias":
            self.body: nn.Module = nn.LayerNorm(dim, eps=_NORM_EPS)
        elif LayerNorm_type == "BiasFree":
            self.body = BiasFreeLayerNorm(dim)
        else:
            raise ValueError(f"LayerNorm_type must be 'WithBias' or 'BiasFree', got {LayerNorm_type!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention (paper Sec. 3.1, Fig. 2a).

    Q, K, V come from a 1x1 conv (pixel-wise channel mixing) followed by a 3x3 depthwise
    conv (local spatial context). The channels are split into ``num_heads`` heads; per
    head, the attention map is softmax(temperature * Q_hat K_hat^T), of size
    C/heads x C/heads, where each channel's map over all pixels is L2-normalised so that
    Q_hat K_hat^T is a cross-covariance and the softmax input is bounded. The learned
    temperature (one per head) sets how sharp the softmax is.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{dim} channels do not split into {num_heads} heads")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        # (b, c, h, w) -> (b, heads, c/heads, h*w): one row per channel of each head.
        q, k, v = (t.reshape(b, self.num_heads, c // self.num_heads, h * w) for t in (q, k, v))
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature  # (b, heads, c/heads, c/heads)
        out = attn.softmax(dim=-1) @ v
        return self.project_out(out.reshape(b, c, h, w))


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network (paper Sec. 3.2, Fig. 2b).

    1x1 conv expands to two branches of ``int(dim * ffn_expansion_factor)`` channels, a 3x3
    depthwise conv adds local context to both, then GELU(branch 1) gates branch 2
    element-wise and a 1x1 conv projects back to ``dim``. The gate decides which
    features pass on, so each level can focus on details the others left out.
    """

    def __init__(self, dim: int, ffn_expansion_factor: float = 2.66, bias: bool = False):
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)  # truncated, as the official shapes require
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    """X + MDTA(LN(X)), then + GDFN(LN(.)): the pre-norm residual block of paper Eqs. 1-2."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        LayerNorm_type: str = "WithBias",
    ):
        super().__init__()
        self.norm1 = TokenLayerNorm(dim, LayerNorm_type)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = TokenLayerNorm(dim, LayerNorm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class PatchEmbed(nn.Module):
    """The low-level feature embedding F0: one 3x3 conv, i.e. overlapping 3x3 patches to ``dim``."""

    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the size, double the channels: 3x3 conv (c -> c/2), then pixel-unshuffle (x4 channels)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1, bias=False),
            nn.PixelUnshuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double the size, halve the channels: 3x3 conv (c -> 2c), then pixel-shuffle (/4 channels)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels * 2, kernel_size=3, padding=1, bias=False),
            nn.PixelShuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Restormer(nn.Module):
    """Restormer's 4-level encoder-decoder with a refinement stage (paper Fig. 2).

    F0 = 3x3 conv(image); encoder levels 1-3 and the latent level of Transformer blocks,
    with ``dim * 2**i`` channels at level i+1 and ``heads[i]`` heads; each decoder level
    upsamples, concatenates its encoder's features and (levels 3 and 2) halves the
    channels with a 1x1 conv. Level 1 keeps the 2 * dim channels of the concatenation,
    and the refinement blocks work at full resolution on them. A 3x3 conv gives the
    residual image, added to the input.

    ``dual_pixel_task=True`` is the paper's dual-pixel defocus model: the input is the
    two views stacked (``inp_channels=6``), F0 is added to the refinement output through a
    1x1 conv and no global residual is added (input and output differ in meaning).
    """

    padder_size = _SIZE_MULTIPLE  # read by midnet.inference.tiling to align tiles
    exposes_residual = False  # the global skip is inside forward (and absent for dual-pixel input)

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        LayerNorm_type: str = "WithBias",
        dual_pixel_task: bool = False,
    ):
        super().__init__()
        self.in_chans = inp_channels
        if len(num_blocks) != 4 or len(heads) != 4:
            raise ValueError(
                f"num_blocks and heads need one entry per level (4), got {list(num_blocks)} and {list(heads)}"
            )
        if dim < 2 or dim % 2:
            # Downsample makes 4 * (c // 2) channels, which is 2c only for even c.
            raise ValueError(f"dim must be even, got {dim}")
        if not dual_pixel_task and inp_channels != out_channels:
            raise ValueError(
                f"the global residual adds the input to the output: inp_channels ({inp_channels}) "
                f"must equal out_channels ({out_channels}) unless dual_pixel_task=True"
            )
        self.dual_pixel_task = dual_pixel_task

        def level(chan: int, num_heads: int, n: int) -> nn.Sequential:
            return nn.Sequential(
                *[TransformerBlock(chan, num_heads, ffn_expansion_factor, bias, LayerNorm_type) for _ in range(n)]
            )

        c1, c2, c3, c4 = dim, dim * 2, dim * 4, dim * 8
        self.patch_embed = PatchEmbed(inp_channels, c1)

        self.encoder_level1 = level(c1, heads[0], num_blocks[0])
        self.down1_2 = Downsample(c1)
        self.encoder_level2 = level(c2, heads[1], num_blocks[1])
        self.down2_3 = Downsample(c2)
        self.encoder_level3 = level(c3, heads[2], num_blocks[2])
        self.down3_4 = Downsample(c3)
        self.latent = level(c4, heads[3], num_blocks[3])

        self.up4_3 = Upsample(c4)
        self.reduce_chan_level3 = nn.Conv2d(c4, c3, kernel_size=1, bias=bias)
        self.decoder_level3 = level(c3, heads[2], num_blocks[2])
        self.up3_2 = Upsample(c3)
        self.reduce_chan_level2 = nn.Conv2d(c3, c2, kernel_size=1, bias=bias)
        self.decoder_level2 = level(c2, heads[1], num_blocks[1])
        self.up2_1 = Upsample(c2)
        # No channel reduction at level 1: the decoder and refinement keep 2 * dim channels
        # (the fine detail is in the encoder half of the concatenation).
        self.decoder_level1 = level(c2, heads[0], num_blocks[0])
        self.refinement = level(c2, heads[0], num_refinement_blocks)

        if dual_pixel_task:
            self.skip_conv = nn.Conv2d(c1, c2, kernel_size=1, bias=bias)
        self.output = nn.Conv2d(c2, out_channels, kernel_size=3, padding=1, bias=bias)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        H, W = inp_img.shape[-2:]
        # Reflection, as the official test code pads: MDTA attends over every pixel, so a zero
        # band would change the whole output and skew each channel's statistics.
        inp_img = pad_to_multiple(inp_img, self.padder_size, mode="reflect")

        f0 = self.patch_embed(inp_img)
        enc1 = self.encoder_level1(f0)
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        latent = self.latent(self.down3_4(enc3))

        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], dim=1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], dim=1)))
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], dim=1))
        refined = self.refinement(dec1)

        if self.dual_pixel_task:
            out = self.output(refined + self.skip_conv(f0))
        else:
            out = self.output(refined) + inp_img  # the network learns the residual
        return out[..., :H, :W]
