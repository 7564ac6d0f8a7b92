"""NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

Same constructor keywords, parameter names and shapes as the official
megvii-research/NAFNet code, so an official checkpoint's ``params`` loads with
``strict=True`` and gives the same output.

One option the official code lacks: ``padding_mode``, how the 3x3 convolutions (intro, ending,
every block's depthwise) see beyond the frame's edge. The official ``zeros`` puts black next to
the outer pixels, a step the network takes for structure and sharpens: flat frames and smooth
ramps come back with invented edges (measured in docs/results.md 11.5).
``reflect`` mirrors every feature map at its edge, so a flat frame stays flat up to its edge; it
also keeps the 2-pixel period that PixelShuffle gives a decoder's maps, which copying the edge
value (``replicate``) breaks. The option changes no parameter: the same weights load either way,
but a network trained with one gives other values at the edge with the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .blocks import AddSkip, MIDBlock, pad_to_multiple


class NAFNet(nn.Module):
    """U-Net of activation-free blocks with plain additive skips and a global residual.

    intro 3x3 -> per level: blocks, 2x2 stride-2 conv (c -> 2c) -> middle blocks ->
    per level up: 1x1 conv (c -> 2c) + PixelShuffle(2), skip fusion, blocks ->
    ending 3x3 -> + input.
    """

    exposes_residual = True  # forward is input + residual(input): midnet.models.protocol

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 16,
        middle_blk_num: int = 1,
        enc_blk_nums: Sequence[int] = (),
        dec_blk_nums: Sequence[int] = (),
        padding_mode: str = "zeros",
    ):
        super().__init__()
        if len(enc_blk_nums) != len(dec_blk_nums):
            raise ValueError(
                f"enc_blk_nums and dec_blk_nums need the same number of levels, "
                f"got {len(enc_blk_nums)} and {len(dec_blk_nums)}"
            )
        self.in_chans = img_channel
        self.intro = nn.Conv2d(img_channel, width, kernel_size=3, padding=1, padding_mode=padding_mode)
        self.ending = nn.Conv2d(width, img_channel, kernel_size=3, padding=1, padding_mode=padding_mode)

        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.skips = nn.ModuleList()  # parameter-free for NAFNet: state dict stays official

        chan = width
        for num in enc_blk_nums:
            self.encoders.append(nn.Sequential(*[MIDBlock(chan, padding_mode=padding_mode) for _ in range(num)]))
            self.downs.append(nn.Conv2d(chan, 2 * chan, kernel_size=2, stride=2))
            chan *= 2

        self.middle_blks = nn.Sequential(*[MIDBlock(chan, padding_mode=padding_mode) for _ in range(middle_blk_num)])

        for num in dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(chan, chan * 2, kernel_size=1, bias=False), nn.PixelShuffle(2)))
            chan //= 2
            self.skips.append(self.make_skip(chan))
            self.decoders.append(nn.Sequential(*[MIDBlock(chan, padding_mode=padding_mode) for _ in range(num)]))

        self.padder_size = 2 ** len(self.encoders)

    def make_skip(self, chan: int) -> nn.Module:
        """How a decoder level fuses its encoder skip: plain addition in NAFNet."""
        return AddSkip()

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        H, W = inp.shape[-2:]
        inp = pad_to_multiple(inp, self.padder_size)
        x = self.residual(inp) + inp
        return x[..., :H, :W]

    def residual(self, inp: torch.Tensor) -> torch.Tensor:
        """What the network adds to an input already padded to ``padder_size``: the output before the global skip.

        Separate so that a reduced-precision copy (midnet/inference/precision.py) can add it to the input in float32.
        """
        x = self.intro(inp)
        encs = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            encs.append(x)
            x = down(x)

        x = self.middle_blks(x)

        for decoder, up, skip, enc_skip in zip(self.decoders, self.ups, self.skips, encs[::-1]):
            x = skip(up(x), enc_skip)
            x = decoder(x)

        return self.ending(x)
