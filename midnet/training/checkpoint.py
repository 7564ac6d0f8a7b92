"""Checkpoints that survive a kill at any instant.

A checkpoint is ONE unit: the weights, the optimizer, the schedule, the loss scaler, the
random state and the step, in a folder of its own under ``checkpoints/``. It is written
under a temporary name, renamed when complete, and only then named by the manifest
``checkpoint.json`` (written last, atomically, with each file's SHA-256). The previous
unit is deleted only after the manifest names the new one, so a kill leaves either the
old complete unit or the new one, never a mix (the old ``last.safetensors`` +
``last.state.pt`` pair could hold weights of step N beside an optimizer of step N-10).
``last.safetensors``, the file commands and scripts read, is published from the unit
after it is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import MidnetError
from ..images.publish import atomic_write
from ..models.weights import read_metadata, read_weights, save_model

MANIFEST_FORMAT = "midnet-checkpoint/1"
ITERATION_KEY = "midnet.iteration"
WEIGHTS_NAME, STATE_NAME = "weights.safetensors", "state.pt"


class Checkpoint:
    """The run folder's checkpoint: ``checkpoint.json`` -> ``checkpoints/<unit>/``, and ``last.safetensors``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.weights = self.out / "last.safetensors"
        self.manifest = self.out / "checkpoint.json"
        self.units = self.out / "checkpoints"
        self.legacy_state = self.out / "last.state.pt"  # runs checkpointed before the manifest existed

    def exists(self) -> bool:
        """Whether the folder holds a complete checkpoint (a half-written one does not count)."""
        return self.manifest.is_file() or self.legacy_state.is_file()

    def save(self, model: nn.Module, optimizer, scheduler, iteration: int, best: float,
             metadata: dict[str, str], scaler=None) -> None:
        """Write the unit of ``iteration``, name it in the manifest, then publish ``last.safetensors``."""
        state = {"iteration": iteration, "best_psnr": best, "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler is not None else {},
                 **rng_state(model)}
        unit = self._write_unit(model, state, {**metadata, ITERATION_KEY: str(iteration)})
        self._write_manifest(unit, iteration)
        self._prune(keep=unit)
        self._publish_weights(unit)

    def load(self, model: nn.Module, optimizer, scheduler, scaler=None) -> tuple[int, float]:
        """Restore everything from the manifest's unit; returns (step, best validation PSNR)."""
        if self.manifest.is_file():
            unit = self._complete_unit()
            weights, meta = read_weights(unit / WEIGHTS_NAME)
            state = _load_state(unit / STATE_NAME)
        elif self.legacy_state.is_file():
            weights, meta = read_weights(self.weights)
            state = _load_state(self.legacy_state)
        else:
            raise MidnetError(f"{self.out}: no checkpoint to resume (checkpoint.json)")
        if int(meta.get(ITERATION_KEY, -1)) != state["iteration"]:
            raise MidnetError(f"{self.out}: weights and optimizer state are from different steps; delete last.* to restart")
        model.load_state_dict(weights, strict=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state, model)
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        return int(state["iteration"]), float(state["best_psnr"])

    def republish(self) -> None:
        """Publish ``last.safetensors`` again if a kill came between the manifest and the publication."""
        if not self.manifest.is_file():
            return
        unit, step = self._complete_unit(), json.loads(self.manifest.read_text())["step"]
        if _iteration_of(self.weights) != step:
            self._publish_weights(unit)

    # -- the steps of a save, in order; a kill between any two leaves a resumable folder

    def _write_unit(self, model: nn.Module, state: dict[str, Any], metadata: dict[str, str]) -> Path:
        self.units.mkdir(parents=True, exist_ok=True)
        name = f"step-{state['iteration']:09d}-{uuid.uuid4().hex[:8]}"  # unique: a step may be saved twice
        staging = self.units / f".{name}.tmp"
        staging.mkdir()
        save_model(model, staging / WEIGHTS_NAME, metadata=metadata)
        _write_state(state, staging / STATE_NAME)
        for f in (WEIGHTS_NAME, STATE_NAME):
            _fsync(staging / f)
        _fsync(staging)
        unit = self.units / name
        os.rename(staging, unit)  # the unit appears complete or not at all
        _fsync(self.units)
        return unit

    def _write_manifest(self, unit: Path, iteration: int) -> None:
        files = {f: _sha256(unit / f) for f in (WEIGHTS_NAME, STATE_NAME)}
        text = json.dumps({"format": MANIFEST_FORMAT, "step": iteration,
                           "unit": unit.relative_to(self.out).as_posix(), "sha256": files}, indent=1)
        with atomic_write(self.manifest) as tmp:
            Path(tmp).write_text(text)
            _fsync(Path(tmp))
        _fsync(self.out)

    def _prune(self, keep: Path) -> None:
        # older units and staging folders of killed saves; the manifest no longer names any of them
        for entry in self.units.iterdir():
            if entry != keep:
                shutil.rmtree(entry, ignore_errors=True)
        self.legacy_state.unlink(missing_ok=True)

    def _publish_weights(self, unit: Path) -> None:
        with atomic_write(self.weights) as tmp:
            shutil.copyfile(unit / WEIGHTS_NAME, tmp)

    def _complete_unit(self) -> Path:
        try:
            manifest = json.loads(self.manifest.read_text())
            unit = self.out / manifest["unit"]
            expected = manifest["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MidnetError(f"{self.manifest}: not a readable checkpoint manifest ({exc})") from exc
        for f, digest in expected.items():
            if not (unit / f).is_file() or _sha256(unit / f) != digest:
                raise MidnetError(f"{unit / f}: missing or damaged (its checksum differs from {self.manifest.name}); "
                                  "the run cannot resume exactly, start it again")
        return unit


def rng_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The random state a step may draw on (dropout-like layers; batches are seeded by step)."""
    state = {"torch_rng": torch.get_rng_state()}
    device = next(model.parameters()).device
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], model: nn.Module) -> None:
    torch.set_rng_state(state["torch_rng"])
    device = next(model.parameters()).device
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"], device)


def _iteration_of(path: Path) -> int | None:
    try:
        value = read_metadata(path).get(ITERATION_KEY)
    except MidnetError:  # a damaged file names no iteration
        return None
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def _write_state(state: dict[str, Any], path: Path) -> None:
    torch.save(state, path)


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: say which, in one line
        raise MidnetError(f"{path}: not a readable training state ({' '.join(str(exc).split())[:200]})") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file or folder to disk, so a power cut cannot reorder the rename before the data."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)
