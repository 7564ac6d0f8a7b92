"""The one cache of everything midnet derives from a network: exported graphs, compiled models.

Every artefact lives in one folder, platformdirs' ``user_cache_dir("midnet")``
(``~/.cache/midnet`` on Linux), or the folder named by the environment variable
``MIDNET_CACHE_DIR``. An artefact's name holds what it was made from: the SHA-256 of
the network's weights and the version of every tool that made it (see
:func:`cache_path`), so new weights or a new exporter never reuse a stale file, and
nothing has to be invalidated by hand. Files appear atomically (midnet.images.publish.atomic_write):
an export killed halfway leaves at most a hidden temporary, never a half file under the
final name. ``midnet cache --path`` prints the folder, ``midnet cache --clear`` empties it.

An artefact is checked, never trusted: when midnet writes one it records the file's own
SHA-256 beside it (``NAME.sha256``), and before each use it hashes the file again. A file
that no longer matches (replaced by another model's export, truncated, edited) is made
again, with one line saying so; one without a record (an older midnet's) is made again
quietly. Writers of one artefact take turns (a lock beside it, released when its process
ends, even killed). A cache that cannot be written only costs time: the artefact is made in
a private temporary folder for this process, with one warning line (:func:`cached`).

midnet owns only the folders named in :data:`KINDS` inside that folder, so a
``MIDNET_CACHE_DIR`` pointed at a folder that holds other things loses none of them. One
of them, ``openvino``, is OpenVINO's own model cache (its CACHE_DIR, midnet/inference/engines.py):
OpenVINO names its compiled blobs by its own hash (``4947395460013535649.blob``), so
there every file is an artefact, not only those :func:`cache_path` names.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import MidnetError
from ..images.publish import atomic_write, remove_stale_temporaries, temporary_owner

CACHE_ENV = "MIDNET_CACHE_DIR"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_ARTEFACT = re.compile(r"^[0-9a-f]{32}-")  # the start of every name cache_path gives
OPENVINO_KIND = "openvino"  # OpenVINO's CACHE_DIR: every file in it is OpenVINO's
KINDS = ("onnx", "engine-choice", OPENVINO_KIND)  # the only folders midnet lists, clears and removes
RECORD, LOCK = ".sha256", ".lock"  # beside each artefact: its SHA-256 as written, and its writers' lock
_verified: dict[Path, str] = {}  # artefact -> the SHA-256 this process checked it against (verified_sha256)
_private: list[Path] = []  # this process's stand-in for a cache it cannot write (made once, removed at exit)


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
    weights file (anything midnet.models.weights.read_weights reads) or a preset with shipped
    weights. midnet's fused inference copy (midnet/inference/fast.py) reports the hash of the
    network it was made from.
    """
    if isinstance(source, nn.Module):
        recorded = getattr(source, "_midnet_source_sha256", None)
        return recorded if isinstance(recorded, str) else state_sha256(source.state_dict())
    from ..models.weights import read_weights

    path = Path(source)
    if not path.is_file():
        from ..models.zoo import PRESETS, shipped_weights_path

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
        raise ValueError(f"unknown cache kind {kind!r}; add it to midnet.inference.cache.KINDS")
    kind, runtime = _UNSAFE.sub("_", kind), _UNSAFE.sub("_", runtime)
    return cache_dir() / kind / f"{sha[:32]}-{runtime}{suffix}"


def cached(path: Path, make: Callable[[str], None]) -> Path:
    """``path``, verified against the SHA-256 recorded when it was written, else made by ``make(temporary_path)``.

    A file that does not match its record is made again (one line on stderr); one without a record
    quietly. Two processes making the same artefact take turns (a lock file beside it: the second
    finds the first's verified file). When the cache folder cannot be written, the artefact is made
    in a private temporary folder instead (one warning per process) and that path is returned: the
    work goes on, measured or exported again by the next process.
    """
    if _verify(path) is not None:
        return path
    unwritable = _cannot_write(path.parent)
    if unwritable is not None:
        return _make_privately(path, make, unwritable)
    from filelock import FileLock

    with FileLock(str(path.with_name(path.name + LOCK))):
        if _verify(path, quiet=True) is not None:  # made by another process while this one waited
            return path
        with atomic_write(path) as tmp:
            make(tmp)
            digest = file_sha256(tmp)
        with atomic_write(record_path(path)) as tmp:
            Path(tmp).write_text(digest + "\n", encoding="ascii")
    _verified[path] = digest
    return path


def record_path(path: Path) -> Path:
    """Where the SHA-256 of artefact ``path`` is recorded when midnet writes it."""
    return path.with_name(path.name + RECORD)


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_sha256(path: str | os.PathLike) -> str | None:
    """The SHA-256 that :func:`cached` checked ``path`` against in this process (None if it did not):
    what a provenance record names as the artefact that ran."""
    return _verified.get(Path(path))


def _verify(path: Path, quiet: bool = False) -> str | None:
    """``path``'s SHA-256 when it is a file matching its record, else None (a mismatch said in one line)."""
    try:
        recorded = record_path(path).read_text(encoding="ascii").strip() if path.is_file() else None
        actual = file_sha256(path) if recorded else None
    except (OSError, UnicodeDecodeError):  # no record (an older midnet's file), or unreadable: made again
        return None
    if actual is None:
        return None
    if actual != recorded:
        if not quiet:
            print(f"warning: {path}: the cached file does not match the SHA-256 midnet recorded when it wrote it "
                  "(replaced or damaged); making it again", file=sys.stderr)
        return None
    _verified[path] = actual
    return actual


def _cannot_write(folder: Path) -> OSError | None:
    """Why files cannot be made in ``folder`` (made first if missing), or None: tried, not guessed from modes."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc
    return None


def _make_privately(path: Path, make: Callable[[str], None], why: OSError) -> Path:
    """The artefact made in this process's private folder, because the cache folder cannot be written."""
    if not _private:
        _private.append(Path(tempfile.mkdtemp(prefix="midnet-cache-")))
        atexit.register(shutil.rmtree, _private[0], True)
        print(f"warning: cannot write midnet's cache {cache_dir()} ({why.strerror or why}); going on without it: "
              f"what it would keep is made again by each run (set {CACHE_ENV} to a writable folder)", file=sys.stderr)
    private = _private[0] / path.parent.name / path.name
    if _verify(private, quiet=True) is not None:
        return private
    private.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(private) as tmp:
        make(tmp)
        digest = file_sha256(tmp)
    record_path(private).write_text(digest + "\n", encoding="ascii")
    _verified[private] = digest
    return private


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int  # bytes


def _is_artefact(path: Path) -> bool:
    """A finished artefact: a file :func:`cache_path` names, or any plain file OpenVINO keeps in its folder."""
    if path.is_symlink() or not path.is_file() or temporary_owner(path.name) or _is_side_file(path):
        return False
    return path.parent.name == OPENVINO_KIND or _ARTEFACT.match(path.name) is not None


def _is_side_file(path: Path) -> bool:
    """A record or lock file :func:`cached` keeps beside an artefact (never in OpenVINO's folder)."""
    return path.parent.name != OPENVINO_KIND and path.name.endswith((RECORD, LOCK)) and bool(_ARTEFACT.match(path.name))


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
    (midnet.images.publish.remove_stale_temporaries) stays, and so does its folder; so does any file
    midnet did not name. A folder left empty is removed.
    """
    count = 0
    for folder in _kind_folders():
        remove_stale_temporaries(folder)
        for path in list(folder.iterdir()):
            if _is_side_file(path) and not path.is_symlink():  # goes with its artefact; not counted
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
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
