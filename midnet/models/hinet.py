"""HINet (Chen et al., "HINet: Half Instance Normalization Network for Image Restoration", CVPRW 2021).

Same constructor keywords, parameter names and shapes as the official
megvii-model/HINet code (``basicsr/models/archs/hinet_arch.py``), so an official
checkpoint's ``params`` loads with ``strict=True`` and gives the same output.
Two differences, both where the official code cannot run as asked: the input is
padded to the U-Net's size multiple (and every output cropped back), and the
supervised attention module predicts ``in_chn`` channels instead of a fixed 3, so a
1-channel HINet returns 1-channel images (identical shapes when ``in_chn=3``).

The module pads with zeros at the bottom and right, as NAFNet's code does. midnet's
restorer (``midnet.inference.tiling``) first pads every frame to ``padder_size`` by reflection, so
this padding only acts when the module is called directly. Inputs whose size is already
a multiple are not touched, so they give the official output exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import pad_to_multiple


class HalfInstanceNorm2d(nn.InstanceNorm2d):
    """Half Instance Normalization: affine instance norm on the first half of the channels only.

    The normalised half removes per-image contrast and brightness; the other half keeps
    them, so the block still sees the content's absolute level. A subclass of
    ``InstanceNorm2d`` over ``channels // 2`` features so its parameters are the
    official ``norm.weight`` and ``norm.bias``.
    """

    def __init__(self, channels: int):
        super().__init__(channels // 2, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.num_features
        return torch.cat([super().forward(x[:, :half]), x[:, half:]], dim=1)


class HINBlock(nn.Module):
    """The HIN block (with ``use_HIN``), else the plain residual block of the decoders.

    3x3 conv -> [half instance norm] -> LeakyReLU -> 3x3 conv -> LeakyReLU, plus the
    input through a 1x1 conv (a residual path that also changes the channel count). With
    ``use_csff`` the block also adds 3x3-convolved stage-1 encoder and decoder features
    (cross-stage feature fusion). ``downsample`` is the 4x4 stride-2 conv that the
    U-Net applies after the block; the block itself returns the full-resolution feature,
    which is also the level's skip.
    """

    def __init__(
        self,
        in_size: int,
        out_size: int,
        downsample: bool,
        relu_slope: float,
        use_csff: bool = False,
        use_HIN: bool = False,
    ):
        super().__init__()
        self.relu_slope = relu_slope
        self.identity = nn.Conv2d(in_size, out_size, kernel_size=1)
        self.conv_1 = nn.Conv2d(in_size, out_size, kernel_size=3, padding=1)
        self.conv_2 = nn.Conv2d(out_size, out_size, kernel_size=3, padding=1)
        # The official code builds CSFF convs only on levels that downsample: the
        # bottleneck has no stage-1 decoder feature of its size to fuse.
        self.use_csff = use_csff and downsample
        if self.use_csff:
            self.csff_enc = nn.Conv2d(out_size, out_size, kernel_size=3, padding=1)
            self.csff_dec = nn.Conv2d(out_size, out_size, kernel_size=3, padding=1)
        self.norm = HalfInstanceNorm2d(out_size) if use_HIN else None
        self.downsample = (
            nn.Conv2d(out_size, out_size, kernel_size=4, stride=2, padding=1, bias=False) if downsample else None
        )

    def forward(
        self, x: torch.Tensor, enc: torch.Tensor | None = None, dec: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.conv_1(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, self.relu_slope)
        out = F.leaky_relu(self.conv_2(out), self.relu_slope)
        out = out + self.identity(x)
        if enc is not None and dec is not None:
            if not self.use_csff:
                raise ValueError("stage-1 features passed to a block built without cross-stage feature fusion")
            out = out + self.csff_enc(enc) + self.csff_dec(dec)
        return out


class UpBlock(nn.Module):
    """Decoder level: 2x2 transposed conv up, concatenate the skip, residual block (no HIN)."""

    def __init__(self, in_size: int, out_size: int, relu_slope: float):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_size, out_size, kernel_size=2, stride=2)
        self.conv_block = HINBlock(in_size, out_size, False, relu_slope)

    def forward(self, x: torch.Tensor, bridge: torch.Tensor) -> torch.Tensor:
        return self.conv_block(torch.cat([self.up(x), bridge], dim=1))


class SAM(nn.Module):
    """Supervised Attention Module (from MPRNet) between the two stages.

    Predicts the stage-1 image (residual on the input, supervised by the loss) and
    turns it into a sigmoid attention map that gates the stage-1 features handed to
    stage 2: only what the stage-1 restoration supports passes on.
    """

    def __init__(self, n_feat: int, img_chn: int = 3, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(n_feat, n_feat, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(n_feat, img_chn, kernel_size, padding=pad)
        self.conv3 = nn.Conv2d(img_chn, n_feat, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, x_img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img = self.conv2(x) + x_img
        attention = torch.sigmoid(self.conv3(img))
        return self.conv1(x) * attention + x, img


class HINet(nn.Module):
    """Two U-Nets in sequence, joined by SAM and cross-stage feature fusion.

    Each stage: 3x3 conv -> ``depth`` encoder levels (HIN blocks on levels
    ``hin_position_left..hin_position_right``, width ``wf * 2**i``, 4x4 stride-2
    downsampling between levels) -> decoder levels (transposed conv up, 3x3 conv on the
    encoder skip, concatenation, residual block). Stage 1 ends in SAM, which gives the
    stage-1 image and the gated features; stage 2 fuses those with its own 3x3 conv of
    the input (concat + 1x1), and its encoder adds the stage-1 encoder and decoder
    features level by level (CSFF). Stage 2 ends in a 3x3 conv + the input.

    ``forward`` returns ``[stage1, stage2]``, each of the input's shape; the restored
    image is the last (both are supervised in training, as in the paper).
    """

    exposes_residual = False  # stage 2 adds the input inside forward: nothing to split off (midnet.models.protocol)

    def __init__(
        self,
        in_chn: int = 3,
        wf: int = 64,
        depth: int = 5,
        relu_slope: float = 0.2,
        hin_position_left: int = 0,
        hin_position_right: int = 4,
    ):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        self.down_path_1 = nn.ModuleList()
        self.down_path_2 = nn.ModuleList()
        prev = wf
        for i in range(depth):
            use_HIN = hin_position_left <= i <= hin_position_right
            downsample = i + 1 < depth
            chan = wf * 2**i
            self.down_path_1.append(HINBlock(prev, chan, downsample, relu_slope, use_HIN=use_HIN))
            self.down_path_2.append(HINBlock(prev, chan, downsample, relu_slope, use_csff=True, use_HIN=use_HIN))
            prev = chan
        # Registered after the encoders so the state dict lists keys in the official order.
        self.conv_01 = nn.Conv2d(in_chn, wf, kernel_size=3, padding=1)
        self.conv_02 = nn.Conv2d(in_chn, wf, kernel_size=3, padding=1)

        self.up_path_1 = nn.ModuleList()
        self.up_path_2 = nn.ModuleList()
        self.skip_conv_1 = nn.ModuleList()
        self.skip_conv_2 = nn.ModuleList()
        for i in reversed(range(depth - 1)):
            chan = wf * 2**i
            self.up_path_1.append(UpBlock(prev, chan, relu_slope))
            self.up_path_2.append(UpBlock(prev, chan, relu_slope))
            self.skip_conv_1.append(nn.Conv2d(chan, chan, kernel_size=3, padding=1))
            self.skip_conv_2.append(nn.Conv2d(chan, chan, kernel_size=3, padding=1))
            prev = chan

        self.sam12 = SAM(wf, img_chn=in_chn)
        self.cat12 = nn.Conv2d(2 * wf, wf, kernel_size=1)
        self.last = nn.Conv2d(wf, in_chn, kernel_size=3, padding=1)

        self.padder_size = 2 ** (depth - 1)  # the encoder halves the size depth-1 times
        self.in_chans = in_chn

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        H, W = x.shape[-2:]
        image = self._pad(x)

        # Stage 1: plain U-Net; keep every level's encoder and decoder feature for CSFF.
        x1, encs = self._encode(self.down_path_1, self.conv_01(image))
        x1, decs = self._decode(self.up_path_1, self.skip_conv_1, x1, encs)
        sam_feature, out_1 = self.sam12(x1, image)

        # Stage 2: its own view of the input fused with SAM's gated features, and
        # stage-1 features added into each encoder level (decoder features are listed
        # deepest first, so reverse them to match the encoder's order).
        x2 = self.cat12(torch.cat([self.conv_02(image), sam_feature], dim=1))
        x2, skips = self._encode(self.down_path_2, x2, encs, decs[::-1])
        x2, _ = self._decode(self.up_path_2, self.skip_conv_2, x2, skips)
        out_2 = self.last(x2) + image

        return [out_1[..., :H, :W], out_2[..., :H, :W]]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad bottom and right to a multiple of ``padder_size`` (see ``pad_to_multiple``).

        Instance norm needs more than one pixel: where the bottleneck is instance-normalised
        and would be 1x1 (the official code fails there), pad one more multiple to the right.
        """
        m = self.padder_size
        x = pad_to_multiple(x, m)
        if self.down_path_1[-1].norm is not None and tuple(x.shape[-2:]) == (m, m):
            x = F.pad(x, (0, m))
        return x

    @staticmethod
    def _encode(
        levels: nn.ModuleList, x: torch.Tensor, encs: list | None = None, decs: list | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encoder levels, then the bottleneck block; returns its output and the per-level skips."""
        skips = []
        for i, level in enumerate(levels[:-1]):
            csff = (encs[i], decs[i]) if encs is not None else ()
            skip = level(x, *csff)
            skips.append(skip)
            x = level.downsample(skip)
        return levels[-1](x), skips

    @staticmethod
    def _decode(
        ups: nn.ModuleList, skip_convs: nn.ModuleList, x: torch.Tensor, skips: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Decoder levels, deepest first; returns the output and every level's feature (deepest first)."""
        decs = []
        for up, skip_conv, skip in zip(ups, skip_convs, reversed(skips)):
            x = up(x, skip_conv(skip))
            decs.append(x)
        return x, decs
