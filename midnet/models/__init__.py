"""The networks and their one constructor, :func:`create_model`.

Presets are a plain dict: name -> configuration (and, where this project trained
them, a weights file shipped in ``midnet/pretrained/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from torch import nn

from ..errors import MidnetError
from .config import MODEL_CONFIGS, DMPHNConfig, HINetConfig, ModelConfig, RestormerConfig, UNetConfig, parse_model_config
from .dmphn import DMPHN
from .hinet import HINet
from .midnet import MIDNet
from .nafnet import NAFNet
from .restormer import Restormer

__all__ = [
    "DMPHN", "HINet", "MIDNet", "NAFNet", "Restormer", "ModelConfig", "UNetConfig", "parse_model_config",
    "PRESETS", "create_model", "build_model", "count_parameters",
]

# The paper-faithful size: NAFNet's GoPro deblurring network (Chen et al. 2022).
_GOPRO_W32 = dict(width=32, middle_blk_num=1, enc_blk_nums=(1, 1, 1, 28), dec_blk_nums=(1, 1, 1, 1))
_GOPRO_W64 = dict(_GOPRO_W32, width=64)
# Sized to train on 2 CPU cores: ~1.6 M parameters, the depth kept where pixels are few.
_SMALL = dict(width=16, middle_blk_num=1, enc_blk_nums=(1, 1, 2, 4), dec_blk_nums=(1, 1, 1, 1))


@dataclass(frozen=True)
class Preset:
    config: dict[str, Any]
    description: str
    weights: str | None = None  # file name under midnet/pretrained/, when this project ships weights
    extra: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "midnet-sem": Preset(
        dict(arch="midnet", **_SMALL),
        "MIDNet-s trained by midnet on real SEM pairs (the default model; see its model card)",
        weights="midnet-sem.safetensors",
    ),
    "midnet-w32": Preset(dict(arch="midnet", **_GOPRO_W32), "MIDNet at NAFNet-GoPro size (paper-faithful, GPU)"),
    "midnet-s": Preset(dict(arch="midnet", **_SMALL), "MIDNet sized for CPU training"),
    "nafnet-w32": Preset(dict(arch="nafnet", **_GOPRO_W32), "NAFNet-GoPro width 32 (official shape)"),
    "nafnet-w64": Preset(dict(arch="nafnet", **_GOPRO_W64), "NAFNet-GoPro width 64 (official shape)"),
    "nafnet-s": Preset(dict(arch="nafnet", **_SMALL), "NAFNet sized for CPU training (MIDNet-s without gates)"),
    "hinet": Preset(dict(arch="hinet"), "HINet, official default size (88.7 M with 3 channels)"),
    "hinet-s": Preset(dict(arch="hinet", wf=8), "HINet at 1/8 width, sized for CPU training"),
    "restormer": Preset(dict(arch="restormer"), "Restormer, official default size (26.1 M with 3 channels)"),
    "restormer-s": Preset(dict(arch="restormer", dim=16, num_blocks=(1, 2, 2, 4), num_refinement_blocks=1),
                          "Restormer sized for CPU training"),
    "dmphn": Preset(dict(arch="dmphn"), "DMPHN 1-2-4, official size (5.4 M with 3 channels)"),
    "dmphn-s": Preset(dict(arch="dmphn", width=17), "DMPHN 1-2-4 sized for CPU training"),
}


def build_model(config: BaseModel) -> nn.Module:
    """Instantiate the network a config describes (random weights); records the config on it."""
    if config.arch in ("midnet", "nafnet"):
        kwargs = dict(
            img_channel=config.in_chans,
            width=config.width,
            middle_blk_num=config.middle_blk_num,
            enc_blk_nums=list(config.enc_blk_nums),
            dec_blk_nums=list(config.dec_blk_nums),
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


def preset_config(name: str, **overrides: Any) -> BaseModel:
    """The validated config of preset ``name`` with ``overrides`` applied."""
    if name not in PRESETS:
        raise MidnetError(f"unknown model {name!r}; valid names: {', '.join(PRESETS)} (or a .safetensors/.pth file)")
    try:
        return parse_model_config({**PRESETS[name].config, **overrides})
    except Exception as exc:  # pydantic's ValidationError, made one line
        raise MidnetError(f"invalid settings for model {name!r}: {_one_line(exc)}") from exc


def create_model(
    name: str | BaseModel, in_chans: int = 1, pretrained: bool = False, **overrides: Any
) -> nn.Module:
    """Build a network by preset name (or from a config such as :class:`UNetConfig`).

    ``in_chans`` is the number of image channels (1 for SEM grayscale); ``overrides``
    replace preset fields (``width=16``, ``skip="add"``...). ``pretrained=True`` loads
    the weights this project ships for the preset.
    """
    if isinstance(name, MODEL_CONFIGS):
        try:
            config = parse_model_config({**name.model_dump(), **overrides})  # re-validated with the overrides
        except ValueError as exc:
            raise MidnetError(f"invalid settings for a {name.arch} model: {_one_line(exc)}") from exc
        label = config.arch
    else:
        config = preset_config(name, in_chans=in_chans, **overrides)
        label = name
    model = build_model(config)
    if pretrained:
        from ..weights import load_pretrained_into

        load_pretrained_into(model, label)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _one_line(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for e in errors():
            loc = ".".join(str(x) for x in e.get("loc", ())) or "config"
            parts.append(f"{loc}: {e.get('msg')}")
        return "; ".join(parts)
    return " ".join(str(exc).split())
