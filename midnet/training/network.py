"""The network a run trains: a preset, or the network of ``model.init_from``, with its first weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import MidnetError
from ..models import build_model, parse_model_config
from ..models.weights import CONFIG_KEY, infer_config, read_weights
from ..models.zoo import PRESETS, preset_config, shipped_weights_path
from .config import ModelSection


def read_init_weights(init_from: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """State dict and metadata of ``model.init_from``: a preset that ships weights, or a weights file."""
    if init_from in PRESETS and not Path(init_from).is_file():  # a file of that name wins, as in load_model
        try:
            with shipped_weights_path(init_from) as path:
                return read_weights(path)
        except MidnetError as exc:  # a preset without shipped weights: say it is model.init_from that named it
            raise MidnetError(f"model.init_from: {exc}") from None
    return read_weights(init_from)


def build_network(section: ModelSection) -> tuple[nn.Module, str]:
    """The network to train and a line saying how it was initialised."""
    model, note, _ = init_network(section)
    return model, note


def init_network(section: ModelSection) -> tuple[nn.Module, str, dict[str, str]]:
    """:func:`build_network` and the metadata of its first weights ({} from scratch).

    A fine-tuned network has seen its parent's micrographs too, so they stay in its ``trained_on``
    and its domain record (read from this metadata).
    """
    state, meta = read_init_weights(section.init_from) if section.init_from else (None, {})
    if section.preset is None:
        config = parse_model_config(meta[CONFIG_KEY]) if CONFIG_KEY in meta else infer_config(state)
    else:
        config = preset_config(section.preset, in_chans=section.in_chans, **section.overrides)
    model = build_model(config)
    note = f"{config.arch} from scratch"
    if state is not None:
        note = _load_fitting(model, state, section.init_from, config.arch)
    frozen = _freeze(model, section.freeze)
    if frozen:
        note += f"; {frozen:,} parameters frozen"
    return model, note, meta


def _load_fitting(model: nn.Module, state: dict[str, torch.Tensor], source: str, arch: str) -> str:
    # fine-tuning may change the network (gates added to a NAFNet file): load what fits, say what is new
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise MidnetError(f"{source}: none of its weights fit a {arch} network of this shape")
    model.load_state_dict(fitting, strict=False)
    note = f"{arch} initialised from {source}: {len(fitting)}/{len(own)} tensors loaded"
    if len(fitting) < len(own):
        note += f" ({len(own) - len(fitting)} new, e.g. {next(k for k in own if k not in fitting)})"
    return note


def _freeze(model: nn.Module, prefixes: list[str]) -> int:
    frozen = 0
    for name, p in model.named_parameters():
        if any(name.startswith(prefix) for prefix in prefixes):
            p.requires_grad_(False)
            frozen += p.numel()
    if prefixes and not frozen:
        raise MidnetError(f"model.freeze {prefixes} matches no parameter; use names like encoders, intro, downs")
    return frozen
