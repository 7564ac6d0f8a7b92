"""DMPHN (Zhang, Dai, Li, Koniusz, "Deep Stacked Hierarchical Multi-patch Network for
Image Deblurring", CVPR 2019), the 1-2-4 multi-patch hierarchy.

Three levels, each an encoder-decoder pair of its own: level 3 sees the image as 4
patches, level 2 as 2 (top and bottom halves), level 1 whole. Finer levels hand their
encoder features and their decoder's residual image up to the next coarser level.

Per-level submodules are named and shaped as the official
HongguangZhang/DMPHN-cvpr19-master code (``encoder_lv1`` holds an official ``Encoder``'s
``layer1 ... layer11``), so an official per-level checkpoint loads with ``strict=True``,
e.g. ``model.encoder_lv1.load_state_dict(torch.load("encoder_lv1.pkl", weights_only=True))``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import pad_to_multiple

# The official scripts feed ``blur - 0.5`` and save ``output + 0.5``; the network itself has
# no global skip, so its output is an image centred on zero. Doing the shift here lets the
# model take and return [0, 1] images like the other networks, and official weights give
# the official result.
_CENTRE = 0.5


class ResBlock(nn.Sequential):
    """The paper's residual link: conv 3x3 -> ReLU -> conv 3x3, added to the input.

    A Sequential so its convs are named ``0`` and ``2`` as in the official state dict.
    """

    def __init__(self, c: int):
        super().__init__(
            nn.Conv2d(c, c, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, kernel_size=3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class Encoder(nn.Module):
    """Three stages (Conv1-3) of a conv and two residual links; stages 2 and 3 halve the size.

    Channels: ``width``, 2``width``, 4``width``. Layer numbers (with their gaps) are the
    official ones so checkpoints load; the gaps are layers the official code dropped.
    """

    def __init__(self, in_chans: int = 3, width: int = 32):
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        # Conv1: full resolution
        self.layer1 = nn.Conv2d(in_chans, c1, kernel_size=3, padding=1)
        self.layer2 = ResBlock(c1)
        self.layer3 = ResBlock(c1)
        # Conv2: 1/2 resolution
        self.layer5 = nn.Conv2d(c1, c2, kernel_size=3, stride=2, padding=1)
        self.layer6 = ResBlock(c2)
        self.layer7 = ResBlock(c2)
        # Conv3: 1/4 resolution
        self.layer9 = nn.Conv2d(c2, c3, kernel_size=3, stride=2, padding=1)
        self.layer10 = ResBlock(c3)
        self.layer11 = ResBlock(c3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.layer7(self.layer6(self.layer5(x)))
        return self.layer11(self.layer10(self.layer9(x)))


class Decoder(nn.Module):
    """The encoder mirrored (Deconv3-1): two residual links, then a 4x4 stride-2 transposed
    conv per stage, and a last 3x3 conv back to image channels."""

    def __init__(self, out_chans: int = 3, width: int = 32):
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        # Deconv3: 1/4 resolution
        self.layer13 = ResBlock(c3)
        self.layer14 = ResBlock(c3)
        self.layer16 = nn.ConvTranspose2d(c3, c2, kernel_size=4, stride=2, padding=1)
        # Deconv2: 1/2 resolution
        self.layer17 = ResBlock(c2)
        self.layer18 = ResBlock(c2)
        self.layer20 = nn.ConvTranspose2d(c2, c1, kernel_size=4, stride=2, padding=1)
        # Deconv1: full resolution
        self.layer21 = ResBlock(c1)
        self.layer22 = ResBlock(c1)
        self.layer24 = nn.Conv2d(c1, out_chans, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer16(self.layer14(self.layer13(x)))
        x = self.layer20(self.layer18(self.layer17(x)))
        return self.layer24(self.layer22(self.layer21(x)))


class DMPHN(nn.Module):
    """DMPHN(1-2-4): bottom-up through the patch hierarchy, level 3 (4 patches) to level 1.

    level 3: encode each quarter; decode the top pair and the bottom pair (features joined
             side by side) into residual images for the two halves.
    level 2: encode each half plus its level-3 residual; add the level-3 features (joined
             into the half's layout); decode into a residual for the whole image.
    level 1: encode the image plus the level-2 residual; add the level-2 features; the
             decoder's output is the deblurred image.
    """

    # Halves, then two stride-2 stages per encoder: every patch's features must tile exactly.
    padder_size = 8
    exposes_residual = False  # the level-1 decoder's output is the image itself

    def __init__(self, in_chans: int = 3, width: int = 32):
        super().__init__()
        self.in_chans = in_chans
        self.width = width
        self.encoder_lv1 = Encoder(in_chans, width)
        self.encoder_lv2 = Encoder(in_chans, width)
        self.encoder_lv3 = Encoder(in_chans, width)
        self.decoder_lv1 = Decoder(in_chans, width)
        self.decoder_lv2 = Decoder(in_chans, width)
        self.decoder_lv3 = Decoder(in_chans, width)
        self.apply(_official_init)

    def forward(self, blur: torch.Tensor) -> torch.Tensor:
        H, W = blur.shape[-2:]
        # Reflection, not zeros: with no global skip a zero border is a step edge the network
        # would sharpen; on the official 720x1280 frames this pads nothing.
        x = pad_to_multiple(blur, self.padder_size, mode="reflect") - _CENTRE

        # The official split order: height into top/bottom first, then each half's width.
        top, bottom = x.chunk(2, dim=2)
        top_left, top_right = top.chunk(2, dim=3)
        bottom_left, bottom_right = bottom.chunk(2, dim=3)

        # Level 3: four patches, each encoded on its own.
        feat3_top = torch.cat((self.encoder_lv3(top_left), self.encoder_lv3(top_right)), dim=3)
        feat3_bottom = torch.cat((self.encoder_lv3(bottom_left), self.encoder_lv3(bottom_right)), dim=3)
        res3_top = self.decoder_lv3(feat3_top)
        res3_bottom = self.decoder_lv3(feat3_bottom)
        feat3 = torch.cat((feat3_top, feat3_bottom), dim=2)

        # Level 2: two halves, each refined by its level-3 residual.
        feat2 = torch.cat((self.encoder_lv2(top + res3_top), self.encoder_lv2(bottom + res3_bottom)), dim=2)
        feat2 = feat2 + feat3
        res2 = self.decoder_lv2(feat2)

        # Level 1: the whole image. No global skip: the decoder outputs the image itself.
        feat1 = self.encoder_lv1(x + res2) + feat2
        out = self.decoder_lv1(feat1) + _CENTRE
        return out[..., :H, :W]



def _official_init(m: nn.Module) -> None:
    """The official training scripts' init: He-normal (fan-out) at half the std, zero bias.

    Kept so that training from scratch starts where the official recipe does; the official
    code gives no reason for the half.
    """
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
        nn.init.normal_(m.weight, 0.0, 0.5 * math.sqrt(2.0 / n))
        if m.bias is not None:
            nn.init.zeros_(m.bias)
