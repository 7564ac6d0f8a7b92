"""The networks, :func:`build_model` to instantiate the one a config describes, and what every network declares
(:class:`RestorationNetwork`).

Names for configurations (presets) and shipped weights are midnet/models/zoo.py's concern; the
weights file format is midnet/models/weights.py's.

May import: ``midnet.errors``, ``midnet.choices``, ``midnet.images``.
"""

from __future__ import annotations

from pydantic import BaseModel
from torch import nn

from ..errors import MidnetError
from .config import ModelConfig, UNetConfig, parse_model_config
from .dmphn import DMPHN
from .hinet import HINet
from .midnet import MIDNet
from .protocol import RestorationNetwork
from .nafnet import NAFNet
from .restormer import Restormer

__all__ = [
    "DMPHN", "HINet", "MIDNet", "NAFNet", "Restormer", "ModelConfig", "UNetConfig", "parse_model_config",
    "build_model", "RestorationNetwork",
]


def build_model(config: BaseModel) -> nn.Module:
    """Instantiate the network a config describes (random weights); records the config on it."""
    if config.arch in ("midnet", "nafnet"):
        kwargs = dict(
            img_channel=config.in_chans,
            width=config.width,
            middle_blk_num=config.middle_blk_num,
            enc_blk_nums=list(config.enc_blk_nums),
            dec_blk_nums=list(config.dec_blk_nums),
            padding_mode=config.padding,
        )
        model: nn.Module = MIDNet(**kwargs, skip=config.skip) if config.arch == "midnet" else NAFNet(**kwargs)
    elif config.arch == "hinet":
        model = HINet(in_chn=config.in_chans, wf=config.wf, depth=config.depth, relu_slope=config.relu_slope,
                      hin_position_left=config.hin_position_left, hin_position_right=config.hin_position_right)
    elif config.arch == "restormer":
        model = Restormer(inp_channels=config.in_chans, out_channels=config.in_chans, dim=config.dim,
                          num_blocks=config.num_blocks, num_refinement_blocks=config.num_refinement_blocks,
                          heads=config.heads, ffn_expansion_factor=config.ffn_expansion_factor, bias=config.bias,
                          LayerNorm_type=config.LayerNorm_type)
    elif config.arch == "dmphn":
        model = DMPHN(in_chans=config.in_chans, width=config.width)
    else:  # pragma: no cover - the configs' Literals reject this first
        raise MidnetError(f"unknown architecture {config.arch!r}")
    model.config = config
    return model
