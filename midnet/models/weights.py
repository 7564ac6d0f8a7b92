"""Saving and loading networks.

midnet's own format is ``.safetensors`` with the network's config as JSON in the
metadata, so a file rebuilds its network alone. Official NAFNet ``.pth`` checkpoints
load through ``torch.load(..., weights_only=True)``: no code runs from a data file.
A BioImage Model Zoo package (``.zip``) that midnet exported carries that same
``.safetensors`` file as an attachment, named in its ``rdf.yaml`` under ``config.midnet``;
midnet reads only that file (sizes checked before anything is decompressed) and never
the package's ONNX or TorchScript weights, which are for other tools.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as safetensors_from_bytes, save_file
from pydantic import BaseModel
from torch import nn

from ..errors import MidnetError, one_line
from . import UNetConfig, build_model, parse_model_config
from .config import MODEL_CONFIGS
from ..images.publish import atomic_write

CONFIG_KEY = "midnet.config"
FORMAT_KEY = "midnet.format"
FORMAT_VERSION = "1"
TRAINED_ON_KEY = "midnet.trained_on"  # JSON list of the micrographs a weights file was trained on
PACKAGE_FORMAT = "midnet-bmz/1"  # config.midnet.format in the rdf.yaml of a package midnet exported
PACKAGE_RDF_LIMIT = 1 << 20  # an rdf.yaml is a few kB: a larger one is not read
PACKAGE_WEIGHTS_LIMIT = 1 << 30  # 4x the largest preset (midnet-w64 in float32): no decompression past this
# float32 weights deflate 1.08-1.10x (the shipped midnet-sem and fresh networks, measured): a member over 1 MiB
# that claims to expand more than 20x is a zip bomb, refused from the zip's directory before a byte is inflated
PACKAGE_MAX_RATIO = 20
PACKAGE_RATIO_FROM = 1 << 20  # small members (rdf.yaml, a README) may compress well: judged by size alone


def save_model(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None,
               replace: bool = True) -> Path:
    """Write ``model``'s weights and config to a ``.safetensors`` file, atomically.

    ``replace=False`` never replaces an existing file, even one written meanwhile by another process.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, MODEL_CONFIGS):
        raise MidnetError("this network has no midnet config; build it with midnet.create_model to save it")
    path = Path(path)
    meta = {FORMAT_KEY: FORMAT_VERSION, CONFIG_KEY: config.model_dump_json()}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_write(path, replace=replace) as tmp:
        save_file(state, tmp, metadata=meta)
    return path


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict and metadata of a ``.safetensors``, ``.pth`` or ``.pt`` file."""
    path = Path(path)
    if not path.is_file():
        raise MidnetError(f"{path}: no such weights file")
    if path.suffix == ".zip":
        return _package_weights(path)
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise MidnetError(f"{path}: not a readable .safetensors file ({exc}); re-download or re-export it") from exc
        return state, meta
    if path.suffix in (".pth", ".pt", ".ckpt"):
        try:
            with warnings.catch_warnings():  # torch's two-line notes on pickle protocols: the refusal below says it
                warnings.simplefilter("ignore", UserWarning)
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:  # torch's weights-only unpickler refused an object or code
            raise MidnetError(
                f"{path}: holds Python objects besides tensors, which midnet never unpickles (code could run "
                "from them); convert its weights to .safetensors where you trust the file"
            ) from exc
        except Exception as exc:  # truncated or not a checkpoint at all
            raise MidnetError(f"{path}: not a readable PyTorch checkpoint ({one_line(exc, 160)})") from exc
        return _unwrap_state_dict(obj, path), {}
    raise MidnetError(f"{path}: unknown weights format {path.suffix!r}; use .safetensors, a midnet-made "
                      "BMZ package .zip (or an official .pth)")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a ``.safetensors`` file without reading its tensors ({} for other formats)."""
    path = Path(path)
    if path.suffix == ".zip":
        return _package_weights(path)[1]
    if path.suffix != ".safetensors":
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise MidnetError(f"{path}: not a readable .safetensors file ({one_line(exc)}); re-download or re-export it") from exc


def _package_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict and metadata of a midnet-made BMZ package's ``.safetensors`` attachment, read in memory."""
    data, name = read_package_attachment(path)
    try:
        # safetensors' own parser of the format's bytes (a JSON header and raw tensors): no pickle, unlike torch.load
        return safetensors_from_bytes(data), _safetensors_metadata(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        raise unreadable_package(path, f"{name} is not a readable .safetensors file ({one_line(exc, 120)})") from exc


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of safetensors ``data`` that safetensors.torch.load accepted (it returns no metadata).

    The format: an 8-byte little-endian header length, then that header as JSON.
    """
    length = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + length]).get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("__metadata__ is not a mapping of strings")
    return meta


def unreadable_package(path: Path, what: str) -> MidnetError:
    """The one-line error for a zip that cannot be a package midnet made, saying what is wrong with it."""
    return MidnetError(f"not a readable midnet BMZ package: {path}: {what}; "
                       "re-download it or re-export it with `midnet export --format bmz`")


def _package_member(archive: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """One member's bytes, refused before decompression when its declared size exceeds ``limit``.

    zipfile stops reading a member at its declared size and checks its CRC, so the declared
    size bounds the memory whatever the compressed stream claims to expand to.
    """
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise MidnetError(f"{path}: the package lacks {name!r}; re-export it with `midnet export`") from None
    if info.file_size > limit:
        raise MidnetError(f"{path}: {name!r} declares {info.file_size:,} bytes (limit {limit:,}); "
                          "refusing to decompress it; re-export the package with `midnet export`")
    try:
        return archive.read(info)
    except NotImplementedError as exc:  # a RuntimeError too: first
        raise unreadable_package(path, f"{name!r} uses a compression method Python's zipfile cannot read "
                                       f"({one_line(exc, 120)})") from exc
    except RuntimeError as exc:  # zipfile's word for an encrypted member (its message repeats the whole ZipInfo)
        what = " is encrypted; midnet reads no passwords" if info.flag_bits & 0x1 else f": {one_line(exc, 120)}"
        raise unreadable_package(path, f"{name!r}{what}") from exc


def check_declared_sizes(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse a package any member of which declares more than :data:`PACKAGE_WEIGHTS_LIMIT` bytes, or a
    ratio of declared to compressed size no weights file has (:data:`PACKAGE_MAX_RATIO`): a zip bomb is
    refused before anything is decompressed, whichever member it hides in."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > PACKAGE_WEIGHTS_LIMIT or total > PACKAGE_WEIGHTS_LIMIT:
            raise MidnetError(f"{path}: {info.filename!r} declares {info.file_size:,} bytes (with the members before "
                              f"it {total:,}; limit {PACKAGE_WEIGHTS_LIMIT:,}); refusing to decompress it; "
                              "re-export the package with `midnet export`")
        if info.file_size > PACKAGE_RATIO_FROM and ratio > PACKAGE_MAX_RATIO:
            raise MidnetError(f"{path}: {info.filename!r} claims to decompress {ratio:,.0f}x ({info.compress_size:,} "
                              f"to {info.file_size:,} bytes; weights compress about 1.1x): a zip bomb; refusing to "
                              "decompress it")


def read_package_attachment(path: str | os.PathLike) -> tuple[bytes, str]:
    """The ``.safetensors`` bytes and file name a midnet-made BMZ package names in ``config.midnet``."""
    import yaml

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            check_declared_sizes(archive, path)  # every member, from the central directory, before any is read
            own = _midnet_section(archive, path)
            name, digest = own.get("weights"), own.get("weights_sha256")
            if not (isinstance(name, str) and name.endswith(".safetensors") and name.isprintable()
                    and "/" not in name and "\\" not in name):
                raise MidnetError(f"{path}: its config.midnet.models.weights is not a .safetensors file name; re-export it")
            data = _package_member(archive, name, PACKAGE_WEIGHTS_LIMIT, path)
    except MidnetError:  # a ValueError too: said already
        raise
    except yaml.YAMLError as exc:
        raise unreadable_package(path, f"its rdf.yaml is not YAML ({one_line(exc, 120)})") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise unreadable_package(path, f"not a readable zip file ({one_line(exc, 120)})") from exc
    if hashlib.sha256(data).hexdigest() != digest:
        raise MidnetError(f"{path}: {name} does not match the SHA-256 its rdf.yaml records; the package is damaged")
    return data, name


def _midnet_section(archive: zipfile.ZipFile, path: Path) -> dict:
    """``config.midnet`` of the package's rdf.yaml, checked to be a mapping of midnet's format."""
    import yaml

    foreign = (f"{path}: not a BioImage Model Zoo package exported by midnet; midnet runs only its own "
               "packages (`midnet export --format bmz`); run others with bioimageio.core or deepImageJ")
    names = set(archive.namelist())
    rdf_name = next((n for n in ("rdf.yaml", "bioimageio.yaml") if n in names), None)
    if rdf_name is None:
        raise MidnetError(foreign)
    rdf = yaml.safe_load(_package_member(archive, rdf_name, PACKAGE_RDF_LIMIT, path))
    if not isinstance(rdf, dict):  # yaml gives lists, strings, numbers as readily as mappings
        raise unreadable_package(path, f"its {rdf_name} holds a {type(rdf).__name__}, not a mapping")
    config = rdf.get("config")
    if config is not None and not isinstance(config, dict):
        raise unreadable_package(path, f"config in its {rdf_name} is a {type(config).__name__}, not a mapping")
    section = (config or {}).get("midnet")
    if section is not None and not isinstance(section, dict):
        raise unreadable_package(path, f"config.midnet in its {rdf_name} is a {type(section).__name__}, not a mapping")
    if section is None or section.get("format") != PACKAGE_FORMAT:
        raise MidnetError(foreign)
    return section


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    # BasicSR/NAFNet checkpoints keep the weights under 'params' (or 'params_ema').
    if isinstance(obj, dict):
        for key in ("params", "params_ema", "state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise MidnetError(f"{path}: no state dict of tensors found (looked for 'params', 'params_ema', 'state_dict')")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def infer_config(state: dict[str, torch.Tensor]) -> UNetConfig:
    """Read a NAFNet/MIDNet config off a state dict's names and shapes (official files carry none)."""
    if "intro.weight" not in state:
        raise MidnetError("weights do not look like NAFNet/MIDNet (no 'intro.weight'); cannot infer the network")
    width, in_chans = state["intro.weight"].shape[:2]

    def count(prefix: str) -> int:
        pat = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
        return len({m.group(1) for k in state if (m := pat.match(k))})

    levels = count("downs")
    enc = tuple(count(f"encoders.{i}") for i in range(levels))
    dec = tuple(count(f"decoders.{i}") for i in range(levels))
    gated = any(k.startswith("skips.") for k in state)
    return UNetConfig(
        arch="midnet" if gated else "nafnet",
        in_chans=in_chans,
        width=width,
        middle_blk_num=count("middle_blks"),
        enc_blk_nums=enc,
        dec_blk_nums=dec,
    )


def model_from_file(path: str | os.PathLike) -> nn.Module:
    """The network a weights file describes (its recorded config, or one inferred for official files)."""
    state, meta = read_weights(path)
    if CONFIG_KEY in meta:
        try:
            config = parse_model_config(meta[CONFIG_KEY])
        except ValueError as exc:
            raise MidnetError(f"{path}: its recorded model config is invalid ({one_line(exc)})") from exc
    else:
        config = infer_config(state)
    check_shapes_fit(config, state, path)
    model = build_model(config)
    load_state_strict(model, state, path)
    return model


def check_shapes_fit(config: BaseModel, state: dict[str, torch.Tensor], source: Any) -> None:
    """Refuse a config whose network the file's tensors do not fill, before allocating that network.

    The config is metadata, so a small file could name a network of billions of parameters;
    built on the meta device it costs no memory, and once its names and shapes match the
    file's tensors (already read, so bounded by the file's size) the real one is that small too.
    """
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in build_model(config).state_dict().items()}
    found = {name: tuple(t.shape) for name, t in state.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(n for n in set(expected) & set(found) if expected[n] != found[n])
        detail = "; ".join(
            f"{what}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for what, names in (("missing", missing), ("unexpected", extra), ("other shape", wrong)) if names
        )
        raise MidnetError(f"{source}: weights do not fit the network their config describes ({detail})")


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: Any) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise MidnetError(f"{source}: weights do not fit the network ({one_line(exc)})") from exc
