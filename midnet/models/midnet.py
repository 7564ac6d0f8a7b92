"""MIDNet (Wang et al., "MIDNet: Deblurring Network for Material Microstructure Images",
Computers, Materials & Continua 79(1), 2024).

NAFNet's U-Net of activation-free MID-Blocks with one change, "ATT": a soft attention
gate on every encoder-decoder skip instead of the plain addition. ``skip="add"`` turns
the gates off and gives plain NAFNet behaviour, which is the paper's ablation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import nn

from .blocks import AddSkip, AttentionGate
from .nafnet import NAFNet

SkipFusion = Literal["attention", "add"]


class MIDNet(NAFNet):
    """NAFNet with attention-gated skips: decoder level fuses ``g + alpha * x``."""

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 16,
        middle_blk_num: int = 1,
        enc_blk_nums: Sequence[int] = (),
        dec_blk_nums: Sequence[int] = (),
        skip: SkipFusion = "attention",
        padding_mode: str = "zeros",
    ):
        if skip not in ("attention", "add"):
            raise ValueError(f"skip must be 'attention' or 'add', got {skip!r}")
        self.skip = skip  # read by make_skip during NAFNet.__init__
        super().__init__(img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums, padding_mode)

    def make_skip(self, chan: int) -> nn.Module:
        return AttentionGate(chan) if self.skip == "attention" else AddSkip()
