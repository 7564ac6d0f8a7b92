"""The model zoo: presets by name, :func:`create_model` and :func:`load_model`.

As timm's ``create_model(name, pretrained=..., in_chans=...)``: a preset is a name for a
network configuration and, where this project trained it, a weights file shipped in
``midnet/pretrained/``. The architectures live in midnet/models/, the file format in
midnet/models/weights.py; this module only names and fetches.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from torch import nn

import torch

from ..choices import DEFAULT_MODEL
from ..errors import MidnetError, one_line
from . import build_model
from .config import MODEL_CONFIGS, parse_model_config
from .weights import CONFIG_KEY, TRAINED_ON_KEY, load_state_strict, model_from_file, read_metadata, read_weights


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


def preset_config(name: str, **overrides: Any) -> BaseModel:
    """The validated config of preset ``name`` with ``overrides`` applied."""
    if name not in PRESETS:
        raise MidnetError(f"unknown model {name!r}; valid names: {', '.join(PRESETS)} (or a .safetensors/.pth file)")
    try:
        return parse_model_config({**PRESETS[name].config, **overrides})
    except Exception as exc:  # pydantic's ValidationError, made one line
        raise MidnetError(f"invalid settings for model {name!r}: {one_line(exc)}") from exc


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
            raise MidnetError(f"invalid settings for a {name.arch} model: {one_line(exc)}") from exc
        label = config.arch
    else:
        config = preset_config(name, in_chans=in_chans, **overrides)
        label = name
    model = build_model(config)
    if pretrained:
        load_pretrained_into(model, label)
    return model



def shipped_weights_path(preset: str):
    """A context manager giving the path of the weights file shipped for ``preset``."""
    weights = PRESETS[preset].weights if preset in PRESETS else None
    if weights is None:
        shipped = [n for n, p in PRESETS.items() if p.weights] or ["none yet"]
        raise MidnetError(
            f"{preset!r} has no shipped weights; presets with weights: {', '.join(shipped)}. "
            "Train it with `midnet train` (or `midnet finetune`) and give the weights file, "
            "or in Python build it untrained with create_model(name)"
        )
    return resources.as_file(resources.files("midnet") / "pretrained" / weights)


def load_pretrained_into(model: nn.Module, preset: str) -> None:
    """Fill ``model`` with the weights shipped for ``preset``."""
    with shipped_weights_path(preset) as p:
        state, meta = read_weights(p)
    shipped_config = parse_model_config(meta[CONFIG_KEY])
    if shipped_config != model.config:
        raise MidnetError(
            f"the shipped {preset!r} weights are for {shipped_config.in_chans}-channel "
            f"{shipped_config.arch}; build it with in_chans={shipped_config.in_chans} and no overrides"
        )
    load_state_strict(model, state, PRESETS[preset].weights)


_model_cache: dict[tuple, nn.Module] = {}


def load_model(name_or_file: str | os.PathLike, device: str | torch.device | None = None) -> nn.Module:
    """A ready network (eval mode) from a preset name with shipped weights or a weights file.

    Networks loaded by name or path are kept for the process: a second call returns the
    same module, so callers must not train or modify it (the restorer works on a copy).
    """
    key = (str(name_or_file), str(device), file_state(name_or_file))
    if key not in _model_cache:
        _model_cache[key] = _load_uncached(str(name_or_file), device)
    return _model_cache[key]


def file_state(name_or_file) -> tuple[int, int] | None:
    """(mtime, size) of a weights file: a file rewritten by training or finetune is loaded again."""
    try:
        stat = Path(name_or_file).stat()
    except (OSError, ValueError):
        return None
    return stat.st_mtime_ns, stat.st_size


def _load_uncached(key: str, device) -> nn.Module:
    if key in PRESETS and not Path(key).is_file():
        model = create_model(key, in_chans=int(PRESETS[key].config.get("in_chans", 1)), pretrained=True)
    elif not Path(key).is_file():
        raise MidnetError(f"{key}: no such model file; give a preset name ({', '.join(PRESETS)}) or a weights file")
    else:
        model = model_from_file(key)
    model.eval()
    return model.to(device) if device is not None else model


def metadata_of(name_or_file: str | os.PathLike) -> dict[str, str]:
    """The metadata recorded in a weights file or in a preset's shipped weights ({} where none)."""
    key = str(name_or_file)
    if key in PRESETS and not Path(key).is_file():
        if PRESETS[key].weights is None:
            return {}
        with shipped_weights_path(key) as p:
            return read_metadata(p)
    return read_metadata(key) if Path(key).is_file() else {}


def trained_on(source: str | os.PathLike | dict[str, str]) -> list[str]:
    """The micrograph names a model was trained on ([] when it does not say).

    ``source`` is a weights file, a preset name with shipped weights, or a file's metadata.
    """
    try:
        metadata = source if isinstance(source, dict) else metadata_of(source)
    except MidnetError:  # unreadable files record nothing; loading them reports the damage
        return []
    value = metadata.get(TRAINED_ON_KEY)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [str(v) for v in value] if isinstance(value, list) else []


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
