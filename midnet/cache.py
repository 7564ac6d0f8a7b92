"""The one cache of everything midnet derives from a network: exported graphs, compiled models.

Every artefact lives in one folder, platformdirs' ``user_cache_dir("midnet")``
(``~/.cache/midnet`` on Linux), or the folder named by the environment variable
``MIDNET_CACHE_DIR``. An artefact's name holds what it was made from: the SHA-256 of
the network's weights and the version of every tool that made it (see
:func:`cache_path`), so new weights or a new exporter never reuse a stale file, and
nothing has to be invalidated by hand. Files appear atomically (midnet.io.atomic_write):
an export killed halfway leaves at most a hidden temporary, never a half file under the
final name. ``midnet cache --path`` prints the folder, ``midnet cache --clear`` empties it.

midnet owns only the folders named in :data:`KINDS` inside that folder, so a
``MIDNET_CACHE_DIR`` pointed at a folder that holds other things loses none of them. One
of them, ``openvino``, is OpenVINO's own model cache (its CACHE_DIR, midnet/engines.py):
OpenVINO names its compiled blobs by its own hash (``4947395460013535649.blob``), so
there every file is an artefact, not only those :func:`cache_path` names.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import MidnetError
from .io import atomic_write, remove_stale_temporaries, temporary_owner

CACHE_ENV = "MIDNET_CACHE_DIR"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_ARTEFACT = re.compile(r"^[0-9a-f]{32}-")  # the start of every name cache_path gives
OPENVINO_KIND = "openvino"  # OpenVINO's CACHE_DIR: every file in it is OpenVINO's
KINDS = ("onnx", "engine-choice", OPENVINO_KIND)  # the only folders midnet lists, clears and removes


def cache_dir() -> Path:
    """The cache folder: ``$MIDNET_CACHE_DIR`` when set, else the user cache folder of platformdirs."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("midnet", appauthor=False))


def weights_sha256(source: nn.Module | str | os.PathLike) -> str:
    """The SHA-256 (hex) of a network's weights: the same for a module and the file it was saved to.

    What is hashed: every entry of the state dict (parameters and persistent buffers), in
    sorted name order, each as its name, dtype, shape and raw little-endian bytes (on the
    CPU, contiguous). Devices, memory layout (channels-last), ``requires_grad`` and the
    file's container (safetensors metadata, tensor order in the file) do not count, so
    ``weights_sha256(load_model(f)) == weights_sha256(f)``. ``source`` is a module, a
    weights file (anything midnet.weights.read_weights reads) or a preset with shipped
    weights. midnet's fused inference copy (midnet/fast.py) reports the hash of the
    network it was made from.
    """
    if isinstance(source, nn.Module):
        recorded = getattr(source, "_midnet_source_sha256", None)
        return recorded if isinstance(recorded, str) else state_sha256(source.state_dict())
    from .weights import read_weights

    path = Path(source)
    if not path.is_file():
        from .zoo import PRESETS, shipped_weights_path

        if str(source) not in PRESETS:
            raise MidnetError(f"{source}: no such weights file or preset with weights")
        with shipped_weights_path(str(source)) as shipped:
            return state_sha256(read_weights(shipped)[0])
    return state_sha256(read_weights(path)[0])


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """The SHA-256 of a state dict as :func:`weights_sha256` defines it."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):  # a module's extra state: not weights
            continue
        data = tensor.detach().to("cpu").contiguous()
        header = f"{name}\0{str(data.dtype).removeprefix('torch.')}\0{tuple(data.shape)}\0"
        digest.update(header.encode())
        # bytes through a uint8 view: works for every dtype, bfloat16 included (numpy has none)
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_path(kind: str, sha: str, runtime: str, suffix: str) -> Path:
    """Where the artefact of ``kind`` ("onnx", "openvino"...) made from weights ``sha`` by ``runtime`` lives.

    ``runtime`` names the versions of every tool that shapes the file (e.g.
    ``"torch2.13.0-onnx1.23.2-export1"``): a new version gives a new name, so an old file
    is never reused by a tool it was not made for. ``suffix`` is the file extension (".onnx").
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise ValueError(f"not a SHA-256 hex digest: {sha!r}")
    if kind not in KINDS:  # a folder midnet cache --clear would not know
        raise ValueError(f"unknown cache kind {kind!r}; add it to midnet.cache.KINDS")
    kind, runtime = _UNSAFE.sub("_", kind), _UNSAFE.sub("_", runtime)
    return cache_dir() / kind / f"{sha[:32]}-{runtime}{suffix}"


def cached(path: Path, make: Callable[[str], None]) -> Path:
    """``path``, made first by ``make(temporary_path)`` when absent; published atomically.

    Two processes making the same artefact at once both write a complete file and the
    last rename wins: both files are the same artefact.
    """
    if path.is_file():
        return path
    with atomic_write(path) as tmp:
        make(tmp)
    return path


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int  # bytes


def _is_artefact(path: Path) -> bool:
    """A finished artefact: a file :func:`cache_path` names, or any plain file OpenVINO keeps in its folder."""
    if path.is_symlink() or not path.is_file() or temporary_owner(path.name):
        return False
    return path.parent.name == OPENVINO_KIND or _ARTEFACT.match(path.name) is not None


def _kind_folders() -> list[Path]:
    """midnet's folders (:data:`KINDS`) that exist in the cache folder; nothing else there is midnet's."""
    root = cache_dir()
    return [root / kind for kind in KINDS if (root / kind).is_dir() and not (root / kind).is_symlink()]


def entries() -> list[Entry]:
    """Every finished artefact in the cache (temporaries of writes under way excluded)."""
    found = []
    for folder in _kind_folders():
        for path in sorted(folder.iterdir()):
            with contextlib.suppress(OSError):  # removed meanwhile by another process
                if _is_artefact(path):
                    found.append(Entry(path, path.stat().st_size))
    return found


def total_size() -> int:
    return sum(e.size for e in entries())


def clear() -> int:
    """Remove every artefact from the cache, and the temporaries of writers that are gone; how many artefacts.

    Only midnet's folders (:data:`KINDS`) are touched. A temporary whose writer still runs
    (midnet.io.remove_stale_temporaries) stays, and so does its folder; so does any file
    midnet did not name. A folder left empty is removed.
    """
    count = 0
    for folder in _kind_folders():
        remove_stale_temporaries(folder)
        for path in list(folder.iterdir()):
            if not _is_artefact(path):
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MidnetError(f"{path}: cannot remove it from the cache ({exc.strerror}); "
                                  "check its permissions") from exc
            count += 1
        with contextlib.suppress(OSError):  # still holds other files: kept
            folder.rmdir()
    return count
